// Exercise ch02 stale_reports: tell a report for a closed connection from a
// report for the new connection that got its number.
//
// epoll_wait() hands back a batch of reports, and the loop handles them one
// by one. A handler may close a connection other than its own: the report
// for #47 says a client sent QUIT for a session that #13 also belongs to, or
// a broadcast to #13 failed. The rest of the batch may still hold a report
// for #13, made before it was closed (epoll(7), "Questions and answers").
// Looked up by data.fd, that report finds nothing while 13 stays free, and
// finds the wrong connection as soon as the number is reused: accept() and
// socket() return the lowest free number, so the next connection gets 13.
// The chapter's servers avoid the reuse by accepting only after the batch.
//
// The general fix, used by most event libraries: data carries a token that
// names the connection, not just its number. Here the token is the number
// plus a per-number generation, which close() advances, so that every
// token issued for the old connection stops matching.
#pragma once

#include <cstdint>
#include <sys/epoll.h>
#include <vector>

namespace ioladder::ch02 {

class Registry {
  public:
    explicit Registry(int epfd) : epfd_(epfd) {}

    // Registers fd (EPOLL_CTL_ADD) for `events`, with a token in data.u64
    // that names this connection. Returns 0, or the errno of epoll_ctl.
    int add(int fd, uint32_t events);

    // Closes fd, which also removes it from the interest list (it is the
    // last copy), and makes every token issued for it stale.
    void close(int fd);

    // The descriptor a report is for, or -1 when the report is stale: its
    // connection was closed after the report was made, whether or not the
    // number has been given to a new connection since.
    int resolve(const epoll_event& report) const;

    int epfd() const { return epfd_; }

  private:
    // The data members are chosen for you: the epoll instance, and the
    // current generation of every descriptor number seen so far (index: fd).
    int epfd_;
    std::vector<uint32_t> generation_;
};

} // namespace ioladder::ch02
