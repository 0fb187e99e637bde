// Exercise ch01 fd_sets: build select()'s interest sets from connection state.
// Read fd_sets.hpp first. Grade it: ctest --preset exercises -R fd_sets
#include "fd_sets.hpp"

namespace ioladder::ch01 {

Interest build_fd_sets([[maybe_unused]] int listener, [[maybe_unused]] int wake_fd,
                       [[maybe_unused]] std::span<const Connection> connections) {
    Interest in;
    FD_ZERO(&in.read);
    FD_ZERO(&in.write);
    // TODO: fill in.read, in.write, in.nfds and in.refused:
    //   - listener and wake_fd (when >= 0) are always in the read set;
    //   - a connection (fd >= 0) is in the read set only while its output
    //     buffer has room (pending < capacity) and the peer has not closed;
    //   - it is in the write set only while output is pending (pending > 0);
    //   - nfds is the highest descriptor in either set + 1 (0 if both are
    //     empty); a connection in neither set does not count;
    //   - a descriptor >= FD_SETSIZE is never passed to FD_SET (that writes
    //     past the end of the fd_set): append it to in.refused instead.
    // Limits: no system calls here, and no dynamic memory except `refused`.
    return in;
}

} // namespace ioladder::ch01
