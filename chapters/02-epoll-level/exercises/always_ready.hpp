// Exercise ch02 always_ready: a regular file in an epoll loop.
//
// select() and poll() accept any descriptor, and report a regular file as
// readable and writable, always: reading a file never waits for a peer.
// epoll refuses it instead: EPOLL_CTL_ADD of a regular file or a directory
// fails with EPERM (epoll_ctl(2)), because such a file has no readiness to
// report. A program whose input is "whatever descriptor it was given" meets
// this the first time someone runs it as `prog < requests.txt`: standard
// input is then a regular file, and a loop that treats EPERM as fatal dies.
//
// The way through: keep the descriptors epoll refused on the side, and
// report them from every wait as ready for what they were added for. And
// since they are always ready, a wait must not sleep while there are any.
#pragma once

#include <cstdint>
#include <span>
#include <sys/epoll.h>
#include <vector>

namespace ioladder::ch02 {

class Watcher {
  public:
    explicit Watcher(int epfd) : epfd_(epfd) {}

    // Watches fd for `events` (EPOLLIN and/or EPOLLOUT) with data.fd = fd:
    // in the kernel's interest list if epoll accepts it, on the side if
    // epoll says EPERM. Returns 0, or any other errno of epoll_ctl.
    int add(int fd, uint32_t events);

    // Stops watching fd, wherever it is watched. Returns 0, or the errno of
    // epoll_ctl (ENOENT for a socket that was not watched).
    int remove(int fd);

    // One wait, like epoll_wait(): fills `out` with up to out.size() reports
    // (data.fd and events) and returns how many, or -1 with errno. Every
    // descriptor on the side is in every result, with the events it was
    // added for, and the kernel's reports fill the rest of `out`. While there
    // is anything on the side the wait does not sleep, whatever timeout_ms
    // says. Precondition: out.size() is larger than the number on the side.
    // An interrupted wait (EINTR) still returns the side's reports (and 0
    // from the kernel).
    int wait(std::span<epoll_event> out, int timeout_ms);

    int epfd() const { return epfd_; }

  private:
    // The data members are chosen for you: the epoll instance, and the
    // descriptors on the side, each with its events and data.fd filled in.
    int epfd_;
    std::vector<epoll_event> always_;
};

} // namespace ioladder::ch02
