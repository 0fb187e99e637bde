// Exercise ch03 oneshot_rearm: one worker's turn on a shared epoll instance,
// with EPOLLONESHOT.
//
// Several threads wait on one epoll instance. Every connection is registered
// with EPOLLONESHOT: the moment a report for it is handed to one thread, the
// registration is disabled, and no other thread hears about that connection
// until its owner re-arms it with EPOLL_CTL_MOD. oneshot_workers shows the
// re-arm for sockets that only ever want EPOLLIN. A server's connections
// want different things after each turn: more input, or writability because
// the reply did not fit in the socket, or nothing ever again.
//
// What the chapter prepared you for:
//   - the owner may touch the connection without a lock only until it
//     re-arms; after the MOD another thread may already be inside;
//   - EPOLL_CTL_MOD looks at the socket as it is, so data that arrived while
//     the registration was disabled is reported at once, not lost;
//   - a MOD replaces the whole registration: events and data.
#pragma once

#include <cstdint>
#include <functional>
#include <span>

namespace ioladder::ch03 {

// What a connection needs after a turn.
enum class Next {
    read,       // wait for input
    write,      // wait for room to send what is left (and read nothing meanwhile)
    read_write, // both
    close,      // the connection is finished
};

// One turn of a worker thread. Every descriptor in `fds` is registered with
// `epfd` for some events | EPOLLONESHOT, with data.u64 = its index in `fds`.
// Waits up to timeout_ms for one report; for that report calls
// handle(index, reported events) exactly once, then does what the returned
// Next asks: re-arm the descriptor for EPOLLIN, EPOLLOUT or both (always with
// EPOLLONESHOT, and the same data), or close it (and do not re-arm it).
// Returns 1 after handling a report, 0 when the wait timed out or was
// interrupted (EINTR), -1 with errno on any other failure.
int worker_turn(int epfd, std::span<const int> fds, int timeout_ms,
                const std::function<Next(uint32_t index, uint32_t events)>& handle);

} // namespace ioladder::ch03
