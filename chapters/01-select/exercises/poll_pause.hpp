// Exercise ch01 poll_pause: make poll() say nothing at all about a connection
// for a while, without giving up its slot.
//
// echo_tcp_poll keeps one pollfd per connection and refreshes its `events`
// from the connection's state. Sometimes a server wants silence about a
// connection: it is waiting for a backend before it answers this client, or
// a rate limit has paused it, and it has nothing to send. events = 0 is not
// silence. poll(2) reports POLLHUP, POLLERR and POLLNVAL whether they were
// asked for or not, so a paused client that hangs up is reported by every
// poll() call, and a loop that is not ready to deal with it spins.
//
// poll(2) gives the way out: "If the fd field is negative, then the
// corresponding events field is ignored and the revents field returns
// zero." Store the descriptor in a negative form that can be turned back
// into the descriptor, and the entry keeps its place in the array (no
// index shuffling) while the kernel skips it. Mind the descriptor 0: minus
// zero is zero.
#pragma once

#include <cstddef>
#include <poll.h>
#include <vector>

namespace ioladder::ch01 {

// A pollfd array with one slot per connection, where a slot can be hidden.
class PollTable {
  public:
    // Appends a slot watching fd for `events` (events 0: a hidden slot) and
    // returns its index.
    std::size_t add(int fd, short events);

    // Sets the events of slot i. events 0 hides the slot: poll() ignores it
    // and reports nothing for it, not even POLLHUP, until set_events() with
    // events != 0 shows it again. Hiding a hidden slot changes nothing.
    void set_events(std::size_t i, short events);

    // The descriptor of slot i, hidden or not.
    int fd(std::size_t i) const;
    bool hidden(std::size_t i) const;
    // The events slot i is watched for: 0 while it is hidden.
    short events(std::size_t i) const;
    // What the last poll() reported for slot i (always 0 for a hidden slot).
    short revents(std::size_t i) const { return fds_[i].revents; }

    // Removes slot i: the last slot moves into its place (as in
    // echo_tcp_poll), keeping its descriptor, its events and whether it is hidden.
    void remove(std::size_t i);

    std::size_t size() const { return fds_.size(); }
    // The array to hand to poll(data(), size(), timeout).
    pollfd* data() { return fds_.data(); }

  private:
    // The data member is chosen for you: the array itself, nothing else.
    std::vector<pollfd> fds_;
};

} // namespace ioladder::ch01
