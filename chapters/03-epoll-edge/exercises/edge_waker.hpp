// Exercise ch03 edge_waker: an edge-triggered eventfd waker that skips the
// wakes nobody needs.
//
// The chapter's wakers write to a descriptor the loop watches. Registered
// with EPOLLET, as current mio does it, every write to an eventfd is a new
// edge, so the loop never has to read the counter back: it only has to
// notice the report. The counter still grows with each write, and a write
// that would take it past its maximum fails with EAGAIN (eventfd(2)); then,
// and only then, the waker must empty it (a read) and write again, or that
// wake makes no edge and is lost.
//
// Every wake() is still a system call, even while the loop has not yet
// looked at the last one. The section "Skipping the system call (and its
// trap)" describes the fix: an atomic "already woken" flag, so that only the
// first wake() after the loop looked makes the write. Its trap is the order
// of the steps in the loop: the flag must be cleared before the loop looks
// for the work the wakes announced, or a wake that comes in between is
// skipped (the flag is still set) and then cleared away, and the loop sleeps
// with work queued.
#pragma once

#include <atomic>
#include <functional>
#include <unistd.h>

namespace ioladder::ch03 {

class EdgeWaker {
  public:
    // Creates the eventfd with counter 0, so that neither wake() nor anything
    // else here can ever sleep, and so that it does not leak into programs
    // the process executes. On failure fd() stays -1.
    EdgeWaker();
    ~EdgeWaker() {
        if (fd_ >= 0) ::close(fd_);
    }
    EdgeWaker(const EdgeWaker&) = delete;
    EdgeWaker& operator=(const EdgeWaker&) = delete;

    // The descriptor the loop registers with EPOLLIN | EPOLLET.
    int fd() const { return fd_; }

    // Makes sure the loop will get a report after this call: one write,
    // unless a wake since the loop last looked already made one. Safe from
    // any thread and from a signal handler; never blocks; leaves errno as it
    // found it.
    void wake();

    // Called by the loop when epoll reports fd(). Runs run_work(), which
    // takes the work queued for the loop, at the right moment with respect
    // to the flag, so that no wake is lost, and makes no system call of
    // its own.
    void on_wake(const std::function<void()>& run_work);

  private:
    // The data members are chosen for you.
    int fd_ = -1;
    std::atomic<bool> woken_{false}; // a write is on its way or has been made
};

} // namespace ioladder::ch03
