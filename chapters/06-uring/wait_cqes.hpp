// wait_cqes.hpp: wait for completions, but not forever. For the chapter's
// demos (probe_uring, cancel_race, ownership_wrong), which must end even when
// the kernel does not do what the demo expects.
//
// A TIMEOUT operation is the deadline: io_uring_enter(2) sleeps until some
// CQE arrives, and the timeout's own CQE is one. Each wait submits a new one
// with its own tag; one that a later wait meets (its wait ended early) is
// ignored, and one still pending goes away with the ring.
#pragma once

#include "ring.hpp"

#include <cerrno>
#include <cstdint>
#include <linux/time_types.h>
#include <vector>

namespace ioladder::uring {

// Guards are tagged from 2^63 up; the demos tag their own operations with
// small numbers and addresses, which are all below.
constexpr uint64_t kGuardTags = uint64_t{1} << 63;

// Collects CQEs until `want` of them have come or `ms` milliseconds have passed.
inline std::vector<io_uring_cqe> wait_cqes(Ring& ring, size_t want, long ms = 1000) {
    static uint64_t next_guard = kGuardTags;
    const uint64_t guard = ++next_guard;
    // Static: if a failed submit leaves this SQE in the ring, a later submit
    // still finds the timespec (the kernel copies it when it takes the SQE).
    static __kernel_timespec deadline;
    deadline = {ms / 1000, (ms % 1000) * 1'000'000};
    std::vector<io_uring_cqe> got;
    io_uring_sqe* s = ring.get_sqe();
    if (!s) { // the SQ is full: submit what is there first
        ring.submit();
        s = ring.get_sqe();
    }
    s->opcode = IORING_OP_TIMEOUT;
    s->addr = reinterpret_cast<uint64_t>(&deadline);
    s->len = 1;
    s->user_data = guard;
    bool expired = false;
    while (got.size() < want && !expired) {
        int r = ring.submit(1);
        if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) break; // EINTR...: reap, retry
        ring.for_each_cqe([&](const io_uring_cqe& c) {
            if (c.user_data == guard)
                expired = true;
            else if (c.user_data < kGuardTags)
                got.push_back(c);
        });
    }
    return got;
}

} // namespace ioladder::uring
