// Exercise ch01 fd_sets: build select()'s interest sets from connection state.
//
// A select() loop rebuilds its fd_sets before every call, because select()
// overwrites them with the ready descriptors. What goes in them is the whole
// policy of the server: read a connection only while its output buffer has
// room (backpressure) and its peer has not closed; ask for writability only
// while output is pending (otherwise select() returns at once, every time,
// and the loop spins). The listener and the wake descriptor are always read.
//
// An fd_set is a fixed bitmap of FD_SETSIZE (1024) bits: FD_SET(fd) with
// fd >= FD_SETSIZE writes past its end (undefined behaviour; with
// _FORTIFY_SOURCE glibc aborts). Such descriptors are refused, never set.
#pragma once

#include <cstddef>
#include <span>
#include <sys/select.h>
#include <vector>

namespace ioladder::ch01 {

// What the event loop knows about one client connection.
struct Connection {
    int fd = -1;              // -1: an empty slot, skip it
    std::size_t pending = 0;  // bytes in the output buffer, not yet sent
    std::size_t capacity = 0; // size of the output buffer
    bool peer_closed = false; // read() returned 0: the client sent FIN
};

struct Interest {
    fd_set read;              // descriptors select() should watch for reading
    fd_set write;             // ... and for writing
    int nfds = 0;             // highest descriptor in either set + 1 (0: none)
    std::vector<int> refused; // descriptors >= FD_SETSIZE, in the order seen
};

// Builds the sets for one select() call. listener and wake_fd are always in
// the read set (a negative value means "none"). A connection is read while
// pending < capacity and the peer has not closed; it is written while
// pending > 0. A descriptor >= FD_SETSIZE goes into `refused` instead.
Interest build_fd_sets(int listener, int wake_fd, std::span<const Connection> connections);

} // namespace ioladder::ch01
