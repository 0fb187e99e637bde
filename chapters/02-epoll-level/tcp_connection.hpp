// tcp_connection.hpp: one TCP echo connection, kept as chapter 01 keeps it
// (a copy of chapters/01-select/tcp_connection.hpp: each chapter stands
// alone). The one addition is `registered`, the events the epoll interest
// list holds for the descriptor, so the server can tell when its interest
// has changed and an epoll_ctl() is due. No event-loop code lives here:
// echo_tcp_epoll_lt.cpp decides *when* to call these functions, from what
// epoll_wait() reported.
#pragma once

#include "echo_common.hpp"

#include <cstdint>
#include <vector>

namespace ioladder {

// Echo output waiting for the client, per connection. When it is full we stop
// reading from that client until it drains, so a client that sends without
// reading costs us at most this much memory.
inline constexpr std::size_t kOutputLimit = 64 * 1024;

// [snippet: connection]
struct Connection {
    Connection(int fd, std::string name) : fd(fd), name(std::move(name)) {}

    int fd = -1;
    std::vector<char> out;    // bytes [sent, out.size()) still to be echoed
    std::size_t sent = 0;     // how much of `out` the kernel already took
    bool peer_closed = false; // read() returned 0: the client half-closed
    uint32_t registered = 0;  // the events epoll watches for fd (EPOLLIN, EPOLLOUT)
    std::string name;         // "127.0.0.1:51234", for the log

    std::size_t pending() const { return out.size() - sent; }
    std::size_t room() const { return kOutputLimit - pending(); }
    bool wants_read() const { return !peer_closed && room() > 0; }
    bool wants_write() const { return pending() > 0; }
    // Half-close: the client said it is done, and we echoed all it sent.
    bool finished() const { return peer_closed && pending() == 0; }
};
// [/snippet]

// [snippet: read-into-output]
// Called when the socket is readable. One read per readiness report: the
// next epoll_wait() says again if more is waiting (level-triggered).
// Returns false when the connection must be closed.
inline bool read_into_output(Connection& c) {
    if (c.room() == 0) return true; // recv() of 0 bytes would look like EOF
    if (c.sent > 0) {               // move the unsent tail to the front so `out` stays bounded
        c.out.erase(c.out.begin(), c.out.begin() + static_cast<std::ptrdiff_t>(c.sent));
        c.sent = 0;
    }
    std::size_t old = c.out.size();
    c.out.resize(old + std::min<std::size_t>(c.room(), 16 * 1024));
    ssize_t n;
    do {
        n = recv(c.fd, c.out.data() + old, c.out.size() - old, 0);
    } while (n < 0 && errno == EINTR);
    c.out.resize(old + static_cast<std::size_t>(n > 0 ? n : 0));
    if (n > 0) {
        IOLADDER_LOG("%s: read %zd bytes", c.name.c_str(), n);
        return true;
    }
    if (n == 0) { // FIN: echo what is pending, then close (see finished())
        IOLADDER_LOG("%s: peer closed its side", c.name.c_str());
        c.peer_closed = true;
        return true;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) return true; // spurious wakeup
    // ECONNRESET (the client reset), ETIMEDOUT, ...: nothing to echo to.
    IOLADDER_LOG("%s: recv: %s", c.name.c_str(), std::strerror(errno));
    return false;
}
// [/snippet]

// [snippet: write-output]
// Called when the socket is writable. Sends until the output is empty or the
// kernel's send buffer is full (a partial write: keep the rest for later).
// Returns false when the connection must be closed.
inline bool write_output(Connection& c) {
    while (c.pending() > 0) {
        ssize_t n = send(c.fd, c.out.data() + c.sent, c.pending(), kSendFlags);
        if (n >= 0) {
            c.sent += static_cast<std::size_t>(n);
            continue;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break; // full: wait for writable
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

// [snippet: accept-client]
// Accepts one pending connection. Returns its descriptor (non-blocking), or -1
// when there is nothing more to accept right now.
inline int accept_client(int listener, SpareFd& spare, std::string* name) {
    for (;;) {
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
        case ENFILE: // out of descriptors: shed the connection, don't spin on it
            spare.shed_one(listener);
            return -1;
        default: // ENOBUFS, ENOMEM, EPERM (firewall): log, keep serving
            warn("accept: %s", std::strerror(errno));
            return -1;
        }
    }
}
// [/snippet]

} // namespace ioladder
