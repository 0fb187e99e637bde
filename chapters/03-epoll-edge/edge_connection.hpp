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

#include "tcp_connection.hpp"

#include <cstdint>

namespace ioladder {

// [snippet: connection]
struct EdgeConnection : Connection {
    using Connection::Connection;

    bool readable = false; // an edge said so, and no read has proved the socket empty since
    bool writable = false; // an edge said so, and send() has not said EAGAIN since
    bool rdhup = false;    // EPOLLRDHUP: the client's FIN is in, behind any data
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
//     took everything there was (epoll(7), Q&A 9; libuv and Tokio stop here
//     too, tokio#5866). That saves the extra recv() that would say EAGAIN.
// A short read does not prove the FIN has been read: when data and the FIN
// arrive together, one edge reports both, and a loop that stops at the short
// read never sees the 0. EPOLLRDHUP says a FIN is in, so with it set we read
// on until recv() returns 0.
// Returns false when the connection must be closed.
inline bool read_until_drained(EdgeConnection& c, std::size_t budget = SIZE_MAX) {
    std::size_t taken = 0;
    while (c.can_read() && taken < budget) {
        ReadResult r = read_some(c, budget - taken);
        switch (r.status) {
        case ReadStatus::data:
            taken += r.bytes;
            if (r.bytes < r.asked && !c.rdhup) c.readable = false; // short read: drained
            break;
        case ReadStatus::eof: // peer_closed is set: can_read() is false from now on
            break;
        case ReadStatus::drained: // EAGAIN: the next EPOLLIN edge sets it again
            c.readable = false;
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

} // namespace ioladder
