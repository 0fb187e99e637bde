// Exercise ch03 drain_loop: read what an edge reported, into a bounded
// buffer, with no more recv() calls than it takes.
//
// Under EPOLLET the kernel reports "readable" once per arrival. The handler
// must take everything that edge stands for, or the rest sits in the socket
// and nothing reports it again. Reading until recv() says EAGAIN is always
// safe, and always costs one call that returns nothing. For a stream socket
// there is a cheaper proof (epoll(7), Q&A 9): a recv() that returns fewer
// bytes than it was asked for has emptied the receive buffer.
//
// Two exceptions. The peer's FIN: if it arrived in the same edge as the
// last data, the short read empties the data and leaves the end of file
// unread, and no new edge comes for it: a half-closed client never gets its
// connection finished. Registered with EPOLLRDHUP, the report says so; then
// the short read proves nothing, and the loop reads on until recv() returns 0.
// EPOLLHUP and EPOLLERR mean the same: read on until 0 or the error. And an
// urgent mark (the peer's send(..., MSG_OOB), tcp(7)): recv() stops short at
// the mark with ordinary data behind it. EPOLLPRI says a mark is in the
// stream; then too a short read proves nothing: read on until EAGAIN.
//
// The buffer is the servers' OutBuffer (chapters/common/out_buffer.hpp):
// recv() into space(), then commit(). When it is full the loop must stop,
// and the caller must remember that the socket may still hold data.
#pragma once

#include "out_buffer.hpp" // chapters/common/

#include <cstddef>
#include <cstdint>

namespace ioladder::ch03 {

using ioladder::OutBuffer;

enum class Drain {
    drained,     // nothing left to read: wait for the next edge
    full,        // `out` is full; the socket may still hold data, and no edge
                 // will report it again: drain again after making room
    peer_closed, // recv() returned 0: the peer sent FIN (bytes before it are in out)
    failed,      // any other error, in `error` (ECONNRESET, ...)
};

struct DrainResult {
    Drain status = Drain::failed;
    std::size_t bytes = 0; // bytes appended to `out` by this call, whatever the status
    int error = 0;         // errno for Drain::failed, else 0
};

// Reads from the non-blocking stream socket `fd`, for which epoll reported
// `events` (it is registered EPOLLIN | EPOLLRDHUP | EPOLLPRI | EPOLLET),
// appending to `out` until one of the four statuses applies:
//   - recv() returns fewer bytes than asked, and events has none of
//     EPOLLRDHUP, EPOLLHUP, EPOLLERR, EPOLLPRI: drained, with no further recv();
//   - EAGAIN: drained; 0: peer_closed; out.full(): full (checked before
//     each recv(): a recv() into 0 bytes returns 0, which looks like FIN);
//   - EINTR: retried; any other errno: failed.
DrainResult drain_reads(int fd, uint32_t events, OutBuffer& out);

} // namespace ioladder::ch03
