// edge_connection.hpp: one TCP echo connection under edge-triggered epoll, as
// echo_tcp_epoll_et.cpp and echo_tcp_epoll_fair.cpp keep it. No event-loop
// code: each server decides *when* to call these functions. Diff the two
// servers and only the scheduling differs (serve until blocked vs a budget
// and a ready queue).
//
// The new part compared with chapter 01's connection (common/tcp_connection.hpp)
// is what the edges said. Under EPOLLET the kernel reports a change once; it
// does not repeat "still readable". So the connection remembers it until a
// system call proves otherwise. Anything we stop doing early (output buffer
// full, budget spent) we must come back to on our own: no edge will remind us.
#pragma once

#include "echo_common.hpp"
#include "tcp_connection.hpp"

#include <climits>
#include <cstdint>
#include <sys/epoll.h>
#include <unordered_map>

namespace ioladder {

// [snippet: connection]
struct EdgeConnection : Connection {
    using Connection::Connection;

    bool readable = false; // an edge said so, and no read has proved the socket empty since
    bool writable = false; // an edge said so, and send() has not said EAGAIN since
    bool rdhup = false;    // EPOLLRDHUP: the client's FIN is in, behind any data
    bool urgent = false;   // EPOLLPRI: an urgent mark is in the stream (until EAGAIN)
    bool queued = false;   // in the ready queue (echo_tcp_epoll_fair only)

    bool can_read() const { return readable && wants_read(); }
    bool can_write() const { return writable && wants_write(); }
    // Work we can do right now without waiting for another edge.
    bool has_work() const { return can_read() || can_write(); }
};
// [/snippet]

// [snippet: read-until-drained]
// Reads until the socket is proved empty, the output buffer is full, or
// `budget` bytes were read. What proves a stream socket empty:
//   - EAGAIN, as for any descriptor;
//   - a short read: recv() returned fewer bytes than it was offered, so it
//     took everything there was (epoll(7), Q&A 9; libuv's uv__read and
//     Tokio's PollEvented stop here too). That saves the recv() that would
//     only say EAGAIN.
// Two things a short read does not prove. The FIN: when data and the FIN
// arrive together, one edge reports both, and a loop that stops at the short
// read never sees the 0; EPOLLRDHUP says a FIN is in, so with it set we read
// on until recv() returns 0. And the rest of the stream after an urgent mark
// (send(..., MSG_OOB)): recv() stops short at the mark with data behind it;
// EPOLLPRI says a mark is in, so with it set we read on until EAGAIN.
// Returns false when the connection must be closed.
inline bool read_until_drained(EdgeConnection& c, std::size_t budget = SIZE_MAX) {
    std::size_t taken = 0;
    while (c.can_read() && taken < budget) {
        ReadResult r = read_some(c, budget - taken);
        switch (r.status) {
        case ReadStatus::data:
            taken += r.bytes;
            if (r.bytes < r.asked && !c.rdhup && !c.urgent) c.readable = false; // drained
            break;
        case ReadStatus::eof: // peer_closed is set: can_read() is false from now on
            break;
        case ReadStatus::drained: // EAGAIN: the next EPOLLIN edge sets it again
            c.readable = false;
            c.urgent = false; // past any urgent mark
            break;
        case ReadStatus::failed: // ECONNRESET, ETIMEDOUT, ...: nothing to echo to
            return false;
        }
    }
    if (taken > 0) IOLADDER_LOG("%s: read %zu bytes", c.name.c_str(), taken);
    return true;
}
// [/snippet]

// [snippet: write-until-blocked]
// Sends the pending output (write_output() of chapter 01) and records the
// edge it used up: EAGAIN clears `writable`, and the EPOLLOUT edge that comes
// when the kernel's send buffer drains sets it again.
// Returns false when the connection must be closed.
inline bool write_until_blocked(EdgeConnection& c) {
    if (!c.can_write()) return true;
    switch (write_output(c)) {
    case WriteStatus::drained:
        return true;
    case WriteStatus::blocked:
        c.writable = false;
        return true;
    case WriteStatus::failed:
        return false;
    }
    return false;
}
// [/snippet]

using EdgeConnections = std::unordered_map<int, EdgeConnection>; // data.fd -> its state

// [snippet: record-edge]
// Records what an edge said; it will not be said again. EPOLLERR and EPOLLHUP
// come unasked: the next recv()/send() reports them.
inline void record_edge(EdgeConnection& c, uint32_t events) {
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) c.readable = true;
    if (events & EPOLLRDHUP) c.rdhup = true;             // read on past short reads, up to the FIN
    if (events & EPOLLPRI) c.readable = c.urgent = true; // ... and past the urgent mark
    if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) c.writable = true;
}
// [/snippet]

// What both edge-triggered servers keep: the epoll instance, the connections,
// and whether the listener may hold connections not yet accepted. Only the
// scheduling differs between the servers, and it stays in their .cpp files.
class EdgeServer {
  public:
    // [snippet: edge-epoll]
    // The listener is edge-triggered too, so it is drained with accept()
    // until EAGAIN (or until a failure makes the acceptor back off, and we
    // come back to it on our own); the shutdown pipe is level-triggered
    // because we stop on it anyway.
    explicit EdgeServer(EchoServer& server) : server_(server) {
        ep_ = epoll_create1(EPOLL_CLOEXEC);
        if (ep_ < 0) die("epoll_create1");
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLET;
        ev.data.fd = server.fd();
        if (epoll_ctl(ep_, EPOLL_CTL_ADD, server.fd(), &ev) < 0) die("epoll_ctl ADD listener");
        ev.events = EPOLLIN;
        ev.data.fd = server.shutdown_fd();
        if (epoll_ctl(ep_, EPOLL_CTL_ADD, server.shutdown_fd(), &ev) < 0)
            die("epoll_ctl ADD shutdown pipe");
        announce(server.fd(), "tcp"); // once the loop is ready, epoll instance included
    }
    // [/snippet]
    // Shutting down: one non-blocking attempt to send what is pending, then close.
    ~EdgeServer() {
        for (auto& [fd, c] : conns) {
            write_output(c);
            close(fd);
        }
        close(ep_);
        IOLADDER_LOG("shut down");
    }
    EdgeServer(const EdgeServer&) = delete;
    EdgeServer& operator=(const EdgeServer&) = delete;

    // [snippet: wait-and-record]
    // One epoll_wait and what it said: the shutdown pipe (returns false:
    // stop), the listener (`listener_ready`; accept_some() runs after the
    // batch, so a report always means the connection it was made for), and
    // each connection's edge, recorded and handed to `on_edge`. What on_edge
    // does is what the two servers do differently: serve now, or queue a turn.
    template <typename OnEdge>
    bool wait(int timeout, OnEdge on_edge) {
        epoll_event events[64];
        int n = epoll_wait(ep_, events, 64, timeout);
        if (n < 0) {
            if (errno == EINTR) return true; // a signal; the shutdown pipe says which
            die("epoll_wait");
        }
        bool stop = false;
        for (int i = 0; i < n; ++i) {
            int fd = events[i].data.fd;
            if (fd == server_.shutdown_fd()) {
                stop = true;
            } else if (fd == server_.fd()) {
                listener_ready = true;
            } else if (auto it = conns.find(fd); it != conns.end()) {
                record_edge(it->second, events[i].events);
                on_edge(it->second);
            }
        }
        return !stop;
    }
    // [/snippet]

    // The wait timeout while no connection is owed a turn: sleep until
    // something happens (-1), unless the listener may still hold connections:
    // then come back at once (0), or when accepting stops backing off.
    int idle_timeout() { return listener_ready ? server_.acceptor().backoff_ms() : -1; }

    // [snippet: accept-some]
    // An edge on the listener may stand for many connections: accept until
    // EAGAIN (or `budget` of them), or the ones left in the backlog wait until
    // the next client arrives and raises a new edge. After a failure that
    // leaves connections queued (ENOBUFS, ENOMEM, ...) the acceptor backs off
    // and `listener_ready` stays set: idle_timeout() brings us back.
    void accept_some(int budget = INT_MAX) {
        if (!listener_ready) return;
        std::string name;
        int accepted = 0;
        for (int fd; accepted < budget && (fd = server_.acceptor().accept_one(&name)) >= 0;) {
            ++accepted;
            // Once, for its lifetime: both directions, the FIN, the urgent
            // mark, edge-triggered.
            epoll_event ev{};
            ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI | EPOLLET;
            ev.data.fd = fd;
            if (epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) < 0) { // ENOMEM, ENOSPC: drop this one
                warn("epoll_ctl ADD %s: %s", name.c_str(), std::strerror(errno));
                close(fd);
                continue;
            }
            IOLADDER_LOG("%s: accepted as fd %d", name.c_str(), fd);
            // No read here: the ADD reports the state it finds, so data that
            // came with the handshake is an event already.
            conns.try_emplace(fd, fd, name);
        }
        listener_ready = accepted == budget || server_.acceptor().backing_off();
    }
    // [/snippet]

    void close_connection(EdgeConnection& c) {
        IOLADDER_LOG("%s: closed", c.name.c_str());
        int fd = c.fd; // a copy: erase() destroys c
        close(fd);     // also removes it from the epoll interest list
        conns.erase(fd);
    }

    EdgeConnections conns;
    bool listener_ready = false; // an edge came and accept() has not said EAGAIN since

  private:
    EchoServer& server_;
    int ep_ = -1;
};

} // namespace ioladder
