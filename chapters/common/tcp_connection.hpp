// tcp_connection.hpp: one TCP echo connection and its two I/O steps, the same
// in every chapter. No event-loop code lives here: each server decides *when*
// to read and write, from what select(), poll() or epoll_wait() reported, and
// that decision is what its chapter teaches.
//
// The write path is "write first": after a read, the server sends at once, and
// asks to be told about writability only when send() says EAGAIN or takes
// part of the data (redis networking.c, libuv uv__write do the same). Asking
// first would cost a wait and two interest changes per message.
#pragma once

#include "log.hpp"
#include "out_buffer.hpp"
#include "socket_setup.hpp"

#include <cerrno>
#include <cstdint>
#include <string>
#include <sys/socket.h>

namespace ioladder {

// [snippet: connection]
struct Connection {
    Connection(int fd, std::string name) : fd(fd), name(std::move(name)) {}

    int fd = -1;
    OutBuffer out;            // read but not yet echoed; at most kOutputLimit bytes
    bool peer_closed = false; // recv() returned 0: the client half-closed
    std::string name;         // "127.0.0.1:51234", for the log

    // Read while there is room and the client still sends; when the buffer
    // is full we stop reading (backpressure) until send() drains it.
    bool wants_read() const { return !peer_closed && !out.full(); }
    bool wants_write() const { return !out.empty(); }
    // Half-close: the client said it is done, and we echoed all it sent.
    bool finished() const { return peer_closed && out.empty(); }
};
// [/snippet]

enum class ReadStatus {
    data,    // `bytes` bytes were read
    eof,     // the client half-closed (FIN); peer_closed is now set
    drained, // EAGAIN: nothing to read right now
    failed,  // ECONNRESET, ETIMEDOUT, ...: close the connection
};
struct ReadResult {
    ReadStatus status;
    std::size_t bytes = 0; // read by this call
    std::size_t asked = 0; // the room recv() was offered: fewer bytes means the socket is empty
};

// [snippet: read-some]
// One recv() into the free space of the output buffer, at most `limit`
// bytes. The caller checks wants_read() first: recv() into 0 bytes of room
// returns 0, which would look like the client's FIN.
inline ReadResult read_some(Connection& c, std::size_t limit = SIZE_MAX) {
    std::span<char> space = c.out.space();
    std::size_t asked = std::min(space.size(), limit);
    for (;;) {
        ssize_t n = recv(c.fd, space.data(), asked, 0);
        if (n > 0) {
            c.out.commit(static_cast<std::size_t>(n));
            return {ReadStatus::data, static_cast<std::size_t>(n), asked};
        }
        if (n == 0) { // FIN: echo what is pending, then close (see finished())
            IOLADDER_LOG("%s: peer closed its side", c.name.c_str());
            c.peer_closed = true;
            return {ReadStatus::eof, 0, asked};
        }
        if (errno == EINTR) continue; // a signal: nothing was read, ask again
        if (errno == EAGAIN || errno == EWOULDBLOCK) return {ReadStatus::drained, 0, asked};
        IOLADDER_LOG("%s: recv: %s", c.name.c_str(), std::strerror(errno));
        return {ReadStatus::failed, 0, asked};
    }
}
// [/snippet]

enum class WriteStatus {
    drained, // everything pending was sent
    blocked, // EAGAIN (or a short write followed by EAGAIN): the rest waits for writability
    failed,  // EPIPE, ECONNRESET: the client is gone, close the connection
};

// [snippet: write-output]
// Sends until the output is empty or the kernel's send buffer is full. A
// short write is not an error: keep the rest and try again; the next send()
// says EAGAIN if the buffer really is full.
inline WriteStatus write_output(Connection& c) {
    while (!c.out.empty()) {
        std::span<const char> p = c.out.pending();
        ssize_t n = send(c.fd, p.data(), p.size(), kSendFlags);
        if (n >= 0) {
            c.out.consume(static_cast<std::size_t>(n));
            continue;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return WriteStatus::blocked;
        // EPIPE/ECONNRESET: the client is gone; its pending echo goes with it.
        IOLADDER_LOG("%s: send: %s", c.name.c_str(), std::strerror(errno));
        return WriteStatus::failed;
    }
    return WriteStatus::drained;
}
// [/snippet]

// [snippet: echo-once]
// What a level-triggered server (select, poll, epoll without EPOLLET) does
// when the socket is readable: one read (the next wait says again if more is
// waiting), then write first: send the echo now, without waiting to be told
// the socket is writable. Returns false when the connection must be closed.
inline bool read_and_echo(Connection& c) {
    if (c.wants_read()) {
        ReadResult r = read_some(c);
        if (r.status == ReadStatus::failed) return false;
        if (r.bytes > 0) IOLADDER_LOG("%s: read %zu bytes", c.name.c_str(), r.bytes);
    }
    return write_output(c) != WriteStatus::failed;
}
// [/snippet]

} // namespace ioladder
