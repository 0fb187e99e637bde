// Exercise ch03 eventfd_waker: a waker on an eventfd, with coalescing.
//
// An event loop sleeps in epoll_wait; another thread (or a signal handler)
// needs to wake it. The waker is a descriptor the loop registers for EPOLLIN
// like any socket. eventfd(2) makes a good one: it is a 64-bit counter, a
// write of 8 bytes adds to it, a read of 8 bytes returns the counter and sets
// it to zero, and the descriptor is readable while the counter is not zero.
// So wakes coalesce for free: three wakes before the loop looks are one
// readable event, and one reset() drains all three.
//
// The chapter's waker_eventfd.cpp is one answer; try without it first.
#pragma once

#include <cstdint>
#include <unistd.h>

namespace ioladder::ch03 {

class EventfdWaker {
  public:
    // Creates the eventfd: counter 0, and flags such that neither wake() nor
    // reset() can ever sleep, and that the descriptor does not leak into
    // programs the process executes. On failure fd() stays -1.
    EventfdWaker();
    ~EventfdWaker() {
        if (fd_ >= 0) ::close(fd_);
    }
    EventfdWaker(const EventfdWaker&) = delete;
    EventfdWaker& operator=(const EventfdWaker&) = delete;

    // The descriptor to register for EPOLLIN.
    int fd() const { return fd_; }

    // Makes fd() readable. Safe from any thread and from a signal handler,
    // never blocks (not even when the counter is at its maximum), and leaves
    // errno as it found it.
    void wake();

    // Drains the waker without blocking: returns how many wakes it held
    // (the counter), 0 if none. Afterwards fd() is not readable until the
    // next wake().
    std::uint64_t reset();

  private:
    int fd_ = -1;
};

} // namespace ioladder::ch03
