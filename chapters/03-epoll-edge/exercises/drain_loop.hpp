// Exercise ch03 drain_loop: read a socket until EAGAIN, as edge-triggered
// epoll demands, without overrunning a bounded buffer.
//
// Under EPOLLET the kernel reports "readable" when data arrives, once. If the
// handler reads some and stops, the rest sits in the socket and nothing
// reports it again: a client waiting for its echo waits forever. So the
// handler reads until recv() says EAGAIN. But an echo server's output buffer
// is bounded (64 KiB in these servers), and when it is full the server must
// stop reading anyway. Then the status must say so, so the caller remembers
// that the socket is still readable and comes back after the buffer drains,
// without waiting for an edge that will not come.
#pragma once

#include <cstddef>
#include <string>

namespace ioladder::ch03 {

enum class Drain {
    drained,     // recv() said EAGAIN: nothing left; wait for the next EPOLLIN edge
    full,        // buf reached `limit`: the socket may still hold data, and no
                 // edge will report it again; call drain_reads again after
                 // making room
    peer_closed, // recv() returned 0: the peer sent FIN (bytes before it are in buf)
    failed,      // any other error, in `error` (ECONNRESET, ...)
};

struct DrainResult {
    Drain status = Drain::failed;
    std::size_t bytes = 0; // bytes appended to buf by this call
    int error = 0;         // errno for Drain::failed, else 0
};

// Appends what the non-blocking socket `fd` has to `buf`, never letting
// buf.size() exceed `limit`, until one of the four statuses above applies.
// EINTR is retried. A buf that is already at `limit` reads nothing and is
// Drain::full.
DrainResult drain_reads(int fd, std::string& buf, std::size_t limit);

} // namespace ioladder::ch03
