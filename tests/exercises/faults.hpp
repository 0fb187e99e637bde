// faults.hpp: count and fail the system calls an exercise makes.
//
// Some errors cannot be provoked on demand: a non-blocking send() or accept()
// never sleeps, so it is practically never interrupted (EINTR), and a short
// write on a socket with room to spare does not happen when a test wants it.
// faults.cpp defines the socket and wait calls below in the test executable
// itself; the linker binds the exercise's calls to them before libc's. Each
// one counts the call, fails it with the next injected errno (or shortens
// it) if the test queued one, and otherwise makes the real system call.
//
// Calls are grouped by what they do, not by their name, so an exercise may
// use whichever call it likes: Call::recv is recv, recvfrom, recvmsg and
// read; Call::send is send, sendto, sendmsg and write. With target(fd) set,
// only calls on that descriptor are counted and failed, so the test's own
// I/O on other descriptors does not disturb the counts.
#pragma once

#include <cstddef>
#include <initializer_list>

namespace ioladder::test {

enum class Call {
    send,       // send, sendto, sendmsg, write
    recv,       // recv, recvfrom, recvmsg, read
    accept,     // accept, accept4
    epoll_ctl,  // epoll_ctl (the descriptor is the epoll instance)
    epoll_wait, // epoll_wait, epoll_pwait (the descriptor is the epoll instance)
    count_
};

// Only calls on `fd` are counted and failed from now on (-1: every call),
// and the counts start again from 0. Injected errors stay queued.
void target(int fd);

// The next calls of `call` fail with these errnos, one each, in order; a 0
// lets that call through.
void inject_errors(Call call, std::initializer_list<int> errnos);

// The next send (Call::send) passes at most `max_bytes` to the kernel: a
// short write, whatever room the socket has.
void shorten_next_send(std::size_t max_bytes);

// How many times the code under test made `call` (failed or not).
int calls(Call call);

// How many of those failed with `error` (injected or real).
int failures(Call call, int error);

// How many real sends sent fewer bytes than they were given.
int partial_sends();

// The next blocking wait of any kind (select, pselect, poll, ppoll,
// epoll_wait, epoll_pwait) first raises `sig` in the calling thread, as if
// the signal arrived just before the wait started; then it waits.
void raise_before_next_wait(int sig);

// How many waits of any kind (see above) were made.
int waits();

// Clears injections, counters and the target. A test creates one FaultScope first.
void reset_faults();

struct FaultScope {
    FaultScope() { reset_faults(); }
    ~FaultScope() { reset_faults(); }
    FaultScope(const FaultScope&) = delete;
    FaultScope& operator=(const FaultScope&) = delete;
};

} // namespace ioladder::test
