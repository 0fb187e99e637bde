// Exercise ch02 epollout_toggle: ask epoll for exactly what a connection
// needs, and tell the kernel only when that changes.
//
// With select() the interest was rebuilt for free before every call. With
// epoll it lives in the kernel's interest list, and changing it is a system
// call: epoll_ctl(EPOLL_CTL_MOD). Under level triggering the rules are the
// ones from chapter 01:
//   - EPOLLIN while the connection may read: the client has not sent EOF and
//     the output buffer has room. A full buffer drops EPOLLIN (backpressure);
//     a socket at EOF would otherwise be reported readable forever.
//   - EPOLLOUT only while output is pending. An idle socket is writable, so
//     EPOLLOUT left on is reported by every epoll_wait(): a busy loop.
// The server remembers what it registered and calls epoll_ctl() only when
// the wanted events differ: once when output appears, once when it drains.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ioladder::ch02 {

// What the event loop knows about one connection.
struct ConnState {
    std::size_t pending = 0;  // bytes in the output buffer, not yet sent
    std::size_t capacity = 0; // size of the output buffer
    bool peer_closed = false; // recv() returned 0: the client sent EOF
};

// The events the connection should be registered for: EPOLLIN, EPOLLOUT,
// both, or 0. Nothing else (EPOLLERR and EPOLLHUP are always reported anyway).
uint32_t wanted_events(const ConnState& s);

// One descriptor in an epoll instance, and the events registered for it.
struct Registration {
    int epfd = -1;
    int fd = -1;
    uint32_t registered = 0; // what the interest list holds for fd right now
};

enum class Apply {
    unchanged, // wanted == registered: no system call was made
    modified,  // EPOLL_CTL_MOD succeeded; registered == wanted now
    failed,    // EPOLL_CTL_MOD failed; errno says why, registered is unchanged
};

// Makes the interest list hold `wanted` for r.fd, with data.fd = r.fd, using
// EPOLL_CTL_MOD, and only when `wanted` differs from r.registered.
Apply apply_interest(Registration& r, uint32_t wanted);

} // namespace ioladder::ch02
