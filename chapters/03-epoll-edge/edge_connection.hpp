// edge_connection.hpp: one TCP echo connection under edge-triggered epoll, as
// echo_tcp_epoll_et.cpp and echo_tcp_epoll_fair.cpp keep it. No event-loop
// code: each server decides *when* to call these functions. Diff the two
// servers and only the scheduling differs (drain everything vs a budget and a
// ready queue).
//
// The new part compared with chapter 01 is two flags. Under EPOLLET the
// kernel reports a change once; it does not repeat "still readable". So the
// connection remembers what the last edges said until a system call proves
// otherwise: `readable` stays true until recv() returns EAGAIN, `writable`
// until send() returns EAGAIN. Anything we stop doing early (output buffer
// full, budget spent) we must come back to on our own: no edge will remind us.
#pragma once

#include "echo_common.hpp"

#include <algorithm>
#include <cstdint>
#include <vector>

namespace ioladder {

// Echo output waiting for the client, per connection, as in chapter 01.
inline constexpr std::size_t kOutputLimit = 64 * 1024;

// [snippet: connection]
struct Connection {
    Connection(int fd, std::string name) : fd(fd), name(std::move(name)) {}

    int fd = -1;
    std::vector<char> out;    // bytes [sent, out.size()) still to be echoed
    std::size_t sent = 0;     // how much of `out` the kernel already took
    bool readable = false;    // an edge said so and recv() has not said EAGAIN since
    bool writable = false;    // the same for send()
    bool peer_closed = false; // recv() returned 0: the client half-closed
    bool queued = false;      // in the ready queue (echo_tcp_epoll_fair only)
    std::string name;         // "127.0.0.1:51234", for the log

    std::size_t pending() const { return out.size() - sent; }
    std::size_t room() const { return kOutputLimit - pending(); }
    bool can_read() const { return readable && !peer_closed && room() > 0; }
    bool can_write() const { return writable && pending() > 0; }
    // Work we can do right now without waiting for another edge.
    bool has_work() const { return can_read() || can_write(); }
    // Half-close: the client said it is done, and we echoed all it sent.
    bool finished() const { return peer_closed && pending() == 0; }
};
// [/snippet]

// [snippet: read-until-eagain]
// Reads until recv() says EAGAIN, the output buffer is full, or `budget`
// bytes were read. Only EAGAIN clears `readable`: stopping for any other
// reason leaves data in the socket, and the kernel will not report it again.
// Returns false when the connection must be closed.
inline bool read_into_output(Connection& c, std::size_t budget = SIZE_MAX) {
    std::size_t taken = 0;
    while (c.can_read() && taken < budget) {
        if (c.sent > 0) { // move the unsent tail to the front so `out` stays bounded
            c.out.erase(c.out.begin(), c.out.begin() + static_cast<std::ptrdiff_t>(c.sent));
            c.sent = 0;
        }
        std::size_t old = c.out.size();
        c.out.resize(old + std::min({c.room(), budget - taken, std::size_t{16 * 1024}}));
        ssize_t n = recv(c.fd, c.out.data() + old, c.out.size() - old, 0);
        c.out.resize(old + static_cast<std::size_t>(n > 0 ? n : 0));
        if (n > 0) {
            taken += static_cast<std::size_t>(n);
            continue;
        }
        if (n == 0) { // FIN: echo what is pending, then close (see finished())
            IOLADDER_LOG("%s: peer closed its side", c.name.c_str());
            c.peer_closed = true;
            break;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            c.readable = false; // drained: the next EPOLLIN edge sets it again
            break;
        }
        // ECONNRESET (the client reset), ETIMEDOUT, ...: nothing to echo to.
        IOLADDER_LOG("%s: recv: %s", c.name.c_str(), std::strerror(errno));
        return false;
    }
    if (taken > 0) IOLADDER_LOG("%s: read %zu bytes", c.name.c_str(), taken);
    return true;
}
// [/snippet]

// [snippet: write-until-eagain]
// Sends until the output is empty or send() says EAGAIN (the kernel's send
// buffer is full; the EPOLLOUT edge that comes when it drains sets
// `writable` again). Returns false when the connection must be closed.
inline bool write_output(Connection& c) {
    while (c.can_write()) {
        ssize_t n = send(c.fd, c.out.data() + c.sent, c.pending(), kSendFlags);
        if (n >= 0) {
            c.sent += static_cast<std::size_t>(n);
            continue;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            c.writable = false;
            break;
        }
        // EPIPE/ECONNRESET: the client is gone; its pending echo goes with it.
        IOLADDER_LOG("%s: send: %s", c.name.c_str(), std::strerror(errno));
        return false;
    }
    if (c.pending() == 0) {
        c.out.clear();
        c.sent = 0;
    }
    return true;
}
// [/snippet]

// Accepts one pending connection. Returns its descriptor (non-blocking), or
// -1 when the backlog is empty (or an error leaves nothing to accept now).
inline int accept_client(int listener, SpareFd& spare, std::string* name) {
    for (int shed = 0;;) {
        sockaddr_storage peer{};
        int fd = accept_nonblocking(listener, &peer);
        if (fd >= 0) {
            *name = address_text(peer);
            return fd;
        }
        switch (errno) {
        case EAGAIN:
#if EAGAIN != EWOULDBLOCK
        case EWOULDBLOCK:
#endif
            return -1; // backlog empty
        case EINTR:
        case ECONNABORTED: // the client gave up before we got to it
            continue;
        case EMFILE:
        case ENFILE:
            // Out of descriptors: shed this connection and try the next, since
            // under EPOLLET nothing reports the rest of the backlog again. The
            // cap is for ENFILE (system-wide), where shedding may free nothing.
            if (++shed > 1024) return -1;
            spare.shed_one(listener);
            continue;
        default:
            // ENOBUFS, ENOMEM, EPERM (firewall): log and stop for now. Under
            // EPOLLET the next connection that arrives raises a new edge.
            warn("accept: %s", std::strerror(errno));
            return -1;
        }
    }
}

} // namespace ioladder
