// Exercise ch03 drain_loop: read what an edge reported, and not a call more.
// Read drain_loop.hpp first. Grade it: ctest --preset exercises -R "ch03 drain_loop"
#include "drain_loop.hpp"

#include <cerrno>
#include <sys/epoll.h>
#include <sys/socket.h>

namespace ioladder::ch03 {

DrainResult drain_reads([[maybe_unused]] int fd, [[maybe_unused]] uint32_t events,
                        [[maybe_unused]] OutBuffer& out) {
    // TODO: loop: recv() into out.space() and commit() what arrived, until
    // the socket is proven empty (decide from the size of each read and from
    // `events` whether a short read is that proof), the peer's FIN is read,
    // `out` is full, or an error ends it.
    // Limits: never recv() into 0 bytes; count every byte you commit in
    // `bytes`, also when an error ends the loop.
    return {Drain::failed, 0, ENOSYS};
}

} // namespace ioladder::ch03
