// Exercise ch01 write_first: send a reply now, and buffer only what the
// kernel would not take.
//
// The echo servers read into a connection's OutBuffer and send from it
// (chapters/common/out_buffer.hpp and tcp_connection.hpp). A server that
// computes its replies (a key-value store, an HTTP server) holds each reply
// in its own memory first. Write first, as the echo servers do: send the
// reply at once, straight from that memory, and only when send() cannot
// take all of it copy the rest into the OutBuffer and ask select() to say
// when the socket is writable again. Asking first and sending when told
// costs a wait (and, with epoll, two interest changes) per reply.
//
// Three facts decide the details:
//   - Bytes already waiting in the buffer mean the socket was full a moment
//     ago and the loop is waiting for it to drain. A reply sent now would
//     overtake them on the wire, or meet EAGAIN. It goes behind them.
//   - A short write is not "full". send() on a non-blocking stream socket
//     takes what fits right now; the next send() may take more. Only EAGAIN
//     says there is no room.
//   - The OutBuffer is the servers' own: space() is the free room after the
//     pending bytes, commit(n) adds what you wrote there. space() may be
//     smaller than room() when the free space is split; it slides the pending
//     bytes down (and returns all of it) once the end has been reached.
#pragma once

#include "out_buffer.hpp" // chapters/common/

#include <cstddef>
#include <span>

namespace ioladder::ch01 {

using ioladder::OutBuffer;

enum class Reply {
    sent,   // all of the reply is on its way; nothing was buffered
    queued, // some or all of it is in `out`: ask for writability
    failed, // the connection is gone (EPIPE, ECONNRESET, ...): close it
};

struct ReplyResult {
    Reply status = Reply::failed;
    std::size_t sent = 0; // bytes of the reply that send() took in this call
    int error = 0;        // errno for failed, else 0
};

// Sends `reply` on the non-blocking stream socket `fd`, write first:
//   - `out` not empty: append the whole reply behind the pending bytes and
//     make no system call (queued);
//   - `out` empty: send() from `reply` until all of it is sent (sent) or
//     send() says EAGAIN (copy the unsent rest into `out`: queued).
// EINTR is retried. Any other error is failed, with errno in `error`.
// send() gets MSG_NOSIGNAL, so a vanished peer is EPIPE, not a SIGPIPE.
// Precondition: reply.size() <= out.room() (the caller stops making replies
// for a connection whose buffer is full: that is the backpressure).
// Afterwards the connection wants writability exactly when !out.empty().
ReplyResult send_reply(int fd, std::span<const char> reply, OutBuffer& out);

} // namespace ioladder::ch01
