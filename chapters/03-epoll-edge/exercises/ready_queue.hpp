// Exercise ch03 ready_queue: the queue that makes an edge-triggered loop fair.
//
// "Read until EAGAIN" lets one client that never runs dry keep the loop to
// itself. The fix gives each connection a turn with a budget (say 64 KiB).
// A connection that still has work when its turn ends cannot wait for an
// edge (none will come for data already there), so it goes to the back of a
// ready queue. The loop serves the queue round robin, one round at a time,
// and calls epoll_wait() with timeout 0 while the queue is not empty, so new
// events are still collected but the loop never sleeps on work it owes.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <unordered_set>

namespace ioladder::ch03 {

class ReadyQueue {
  public:
    // Adds fd at the back, unless it is already queued (then nothing changes).
    void push(int fd);

    // Forgets fd wherever it is in the queue: its connection was closed, and
    // accept() may hand the same number to a new one.
    void remove(int fd);

    bool contains(int fd) const;
    std::size_t size() const;
    bool empty() const { return size() == 0; }

    // The timeout for the next epoll_wait(): 0 while anything is queued
    // (collect new events but do not sleep), -1 when nothing is.
    int wait_timeout() const;

    // One round: every fd queued when the round starts gets exactly one call
    // of turn(fd), front to back. When turn returns true the fd still has
    // work and goes to the back of the queue, for the next round. fds pushed
    // during the round wait for the next round. turn may call push(), not
    // remove(). Returns the number of turns taken.
    std::size_t run_round(const std::function<bool(int)>& turn);

  private:
    // The data members are chosen for you: order_ is the queue, queued_ the
    // same descriptors as a set, for contains() and for push() to stay O(1).
    std::deque<int> order_;
    std::unordered_set<int> queued_;
};

} // namespace ioladder::ch03
