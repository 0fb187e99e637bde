// faults.hpp: count and fail the system calls an exercise makes.
//
// Some errors cannot be provoked on demand: a non-blocking send() or accept()
// never sleeps, so it is practically never interrupted (EINTR), and Linux
// rarely reports ECONNABORTED. faults.cpp defines send, accept, accept4 and
// recvmsg in the test executable itself; the linker binds the exercise's
// calls to them before libc's. Each one counts the call, fails it with the
// next injected errno if any is queued, and otherwise makes the real system
// call. Nothing is injected unless a test asks.
#pragma once

#include <cstddef>
#include <initializer_list>

namespace ioladder::test {

enum class Call { send, accept, recvmsg }; // accept covers accept and accept4

// The next calls of `call` fail with these errnos, one each, in order.
void inject_errors(Call call, std::initializer_list<int> errnos);

// How many times the code under test made `call` (failed or not).
int calls(Call call);

// How many real send() calls sent fewer bytes than they were given.
int partial_sends();

// Clears injections and counters. A test creates one FaultScope first.
void reset_faults();

struct FaultScope {
    FaultScope() { reset_faults(); }
    ~FaultScope() { reset_faults(); }
    FaultScope(const FaultScope&) = delete;
    FaultScope& operator=(const FaultScope&) = delete;
};

} // namespace ioladder::test
