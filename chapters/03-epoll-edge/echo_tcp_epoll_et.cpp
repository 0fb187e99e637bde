// echo_tcp_epoll_et.cpp: a TCP echo server on edge-triggered epoll (EPOLLET).
//
// What it shows
//   - Register once: every connection is added with EPOLLIN | EPOLLOUT |
//     EPOLLRDHUP | EPOLLET and never modified. Under strace there is one
//     EPOLL_CTL_ADD per connection and no EPOLL_CTL_MOD at all.
//   - The edge contract: an event says "something changed", once. The
//     handler reads until the socket is proved empty (EAGAIN, or a short
//     read) and writes until send() says EAGAIN; the connection remembers
//     `readable`/`writable` until then. A client that reads its echoes costs
//     three calls per message: epoll_wait, recv, send.
//   - Backpressure under edges: when the 64 KiB output buffer is full the
//     server stops reading, but the socket is still readable and no new edge
//     will say so. After the buffer drains, the handler resumes reading on
//     its own.
//   - The cost of "drain everything": one client that sends and reads as
//     fast as it can keeps the handler looping on its socket, and nobody else
//     is served meanwhile. echo_tcp_epoll_fair.cpp is the fix; the chapter's
//     test measures both.
//
// Run it
//   ./build/default/chapters/03-epoll-edge/echo_tcp_epoll_et --port 2000 -v
//   nc 127.0.0.1 2000
//   strace -o tcp.trace ./build/default/chapters/03-epoll-edge/echo_tcp_epoll_et --port 2000
//
// The connection code is in edge_connection.hpp, shared with
// echo_tcp_epoll_fair.cpp. Left out on purpose: idle timeouts, TLS.
#include "echo_common.hpp"
#include "edge_connection.hpp"

#include <sys/epoll.h>
#include <unordered_map>

using namespace ioladder;

namespace {

// [snippet: serve-until-blocked]
// Runs one connection until it can do nothing more without a new edge: the
// socket is drained (EAGAIN on read) and the output is sent, or the output
// is full and send() said EAGAIN. Reading and writing alternate, so a full
// buffer is emptied and reading resumes without waiting for an event.
// Returns false when the connection must be closed.
bool serve_until_blocked(EdgeConnection& c) {
    while (c.has_work()) {
        if (!write_until_blocked(c)) return false;
        if (!read_until_drained(c)) return false;
    }
    return !c.finished();
}
// [/snippet]

} // namespace

int main(int argc, char** argv) {
    Options opt = parse_options(argc, argv, "TCP echo server on edge-triggered epoll (EPOLLET).");
    ShutdownPipe shutdown;
    int listener = open_bound_socket(opt, SOCK_STREAM);
    Acceptor acceptor(listener);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");

    // [snippet: register]
    // The listener and the shutdown pipe: readable is all we want to know.
    // The listener is edge-triggered too, so it is drained with accept()
    // until EAGAIN (or until a failure makes us back off and come back to it
    // on our own); the pipe is level-triggered because we stop on it anyway.
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLET;
    ev.data.fd = listener;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev) < 0) die("epoll_ctl ADD listener");
    ev.events = EPOLLIN;
    ev.data.fd = shutdown.fd();
    if (epoll_ctl(ep, EPOLL_CTL_ADD, shutdown.fd(), &ev) < 0) die("epoll_ctl ADD shutdown pipe");
    // [/snippet]
    announce(listener, "tcp");
    std::unordered_map<int, EdgeConnection> conns;
    bool listener_ready = false; // an edge came and accept() has not said EAGAIN since

    auto close_connection = [&](EdgeConnection& c) {
        IOLADDER_LOG("%s: closed", c.name.c_str());
        int fd = c.fd; // a copy: erase() destroys c
        close(fd);     // also removes it from the epoll interest list
        conns.erase(fd);
    };

    epoll_event events[64];
    for (;;) {
        // Sleep until something happens, unless accepting is backing off
        // with connections still queued: then wake up to try again.
        int timeout = listener_ready ? acceptor.backoff_ms() : -1;
        int n = epoll_wait(ep, events, 64, timeout);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        bool stop = false;
        for (int i = 0; i < n; ++i) {
            int fd = events[i].data.fd;
            if (fd == shutdown.fd()) {
                stop = true;
            } else if (fd == listener) {
                listener_ready = true; // accepted after the batch, see below
            } else if (auto it = conns.find(fd); it != conns.end()) {
                // [snippet: dispatch]
                EdgeConnection& c = it->second;
                // Record what the edge said; it will not be said again.
                // EPOLLERR and EPOLLHUP come unasked: let recv()/send() report them.
                uint32_t e = events[i].events;
                if (e & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) c.readable = true;
                if (e & EPOLLRDHUP) c.rdhup = true; // read on past short reads, up to the FIN
                if (e & (EPOLLOUT | EPOLLERR | EPOLLHUP)) c.writable = true;
                if (!serve_until_blocked(c)) close_connection(c);
                // [/snippet]
            }
        }
        if (stop) break;

        // Accepting after the batch, as in chapter 02: a report in `events`
        // then always means the connection it was made for.
        // [snippet: accept-all]
        // An edge on the listener may stand for many connections: accept
        // until EAGAIN, or the ones left in the backlog wait until the next
        // client arrives and raises a new edge. After a failure that leaves
        // connections queued (ENOBUFS, ENOMEM, ...) the acceptor backs off,
        // and `listener_ready` stays set so the timeout above brings us back.
        if (listener_ready) {
            std::string name;
            for (int c; (c = acceptor.accept_one(&name)) >= 0;) {
                epoll_event cev{};
                cev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET; // once, for its lifetime
                cev.data.fd = c;
                if (epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev) < 0) {
                    warn("epoll_ctl ADD %s: %s", name.c_str(), std::strerror(errno));
                    close(c);
                    continue;
                }
                IOLADDER_LOG("%s: accepted as fd %d", name.c_str(), c);
                // No read here: the ADD reports the state it finds, so data
                // that came with the handshake is an event already.
                conns.try_emplace(c, c, name);
            }
            listener_ready = acceptor.backing_off();
        }
        // [/snippet]
    }

    // Shutting down: one non-blocking attempt to send what is pending, then close.
    for (auto& [fd, c] : conns) {
        write_output(c);
        close(fd);
    }
    close(ep);
    close(listener);
    IOLADDER_LOG("shut down");
    return 0;
}
