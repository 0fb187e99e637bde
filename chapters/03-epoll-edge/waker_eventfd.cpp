// waker_eventfd.cpp: the Waker of waker.hpp on an eventfd.
//
// What it shows
//   - An eventfd is a 64-bit counter behind one descriptor (eventfd(2)):
//     write(8 bytes) adds, read(8 bytes) returns the counter and sets it to
//     zero, and the descriptor is readable while the counter is not zero.
//     Every write wakes the pollers, so under EPOLLET every wake() is an edge
//     and the loop never has to read: one descriptor, one call per wake.
//   - EFD_NONBLOCK: a write that would push the counter past 2^64 - 2 fails
//     with EAGAIN instead of blocking. Then wake() resets the counter with
//     one read and adds again, as mio 1.x does
//     (src/sys/unix/waker/eventfd.rs). At a million wakes a second that is
//     half a million years away, so the branch is tested with fill().
//
// Under strace:  eventfd2(0, EFD_CLOEXEC|EFD_NONBLOCK) = 3, then one
// write(3, "\1\0\0\0\0\0\0\0", 8) per wake and no read at all.
//
// Left out on purpose: EFD_SEMAPHORE (read returns 1 at a time: the opposite
// of coalescing, and we never read anyway).
#include "waker.hpp"

#include "log.hpp"

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
    // EAGAIN: the counter is at its maximum. Reset it and add again: only a
    // write makes a new edge. EINTR cannot happen: a non-blocking write
    // never sleeps.
    while (write(write_fd_, &one, sizeof one) < 0 && errno == EAGAIN)
        drain();
    errno = saved;
}
// [/snippet]

// [snippet: eventfd-drain]
void Waker::drain() {
    std::uint64_t count = 0;
    // One read empties the counter. EAGAIN (already zero) is fine too.
    [[maybe_unused]] ssize_t n = read(read_fd_, &count, sizeof count);
    drains_.fetch_add(1, std::memory_order_relaxed);
}
// [/snippet]

void Waker::fill() {
    std::uint64_t count = 0, most = 0xfffffffffffffffe; // the largest value eventfd(2) holds
    [[maybe_unused]] ssize_t n = read(read_fd_, &count, sizeof count);
    n = write(write_fd_, &most, sizeof most);
}

} // namespace ioladder::ch03
