// waker_eventfd.cpp: the Waker of waker.hpp on an eventfd.
//
// What it shows
//   - An eventfd is a 64-bit counter behind one descriptor (eventfd(2)):
//     write(8 bytes) adds, read(8 bytes) returns the counter and sets it to
//     zero, and the descriptor is readable while the counter is not zero.
//     One descriptor instead of the pipe's two, and no bytes to shovel:
//     100000 wakes are one read of the number 100000.
//   - EFD_NONBLOCK: write() could only block when the counter would pass
//     0xfffffffffffffffe; non-blocking, it fails with EAGAIN instead, which
//     we ignore (a counter that large is certainly readable). read() on a
//     zero counter fails with EAGAIN instead of sleeping.
//
// Under strace:  eventfd2(0, EFD_CLOEXEC|EFD_NONBLOCK) = 3, then
// write(3, "\1\0\0\0\0\0\0\0", 8) per wake and one read(3, ..., 8) per reset.
//
// Left out on purpose: EFD_SEMAPHORE (read returns 1 at a time: the opposite
// of coalescing).
#include "waker.hpp"

#include "echo_common.hpp"

#include <cerrno>
#include <sys/eventfd.h>
#include <unistd.h>

namespace ioladder::ch03 {

Waker::Waker() {
    read_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (read_fd_ < 0) die("eventfd (eventfd waker)");
    write_fd_ = read_fd_;
}

Waker::~Waker() {
    close(read_fd_); // one descriptor for both roles
}

const char* Waker::kind() {
    return "eventfd";
}

// [snippet: eventfd-wake]
void Waker::wake() {
    int saved = errno; // we may run inside a signal handler
    const std::uint64_t one = 1;
    // EAGAIN: the counter is at its maximum, so the loop is woken already.
    // EINTR cannot happen: a non-blocking write never sleeps.
    [[maybe_unused]] ssize_t n = write(write_fd_, &one, sizeof one);
    errno = saved;
}
// [/snippet]

// [snippet: eventfd-reset]
std::uint64_t Waker::reset() {
    std::uint64_t count = 0;
    for (;;) {
        ssize_t n = read(read_fd_, &count, sizeof count);
        if (n == sizeof count) return count; // every wake since the last reset
        if (n < 0 && errno == EINTR) continue;
        return 0; // EAGAIN: the counter was zero, nobody woke us
    }
}
// [/snippet]

} // namespace ioladder::ch03
