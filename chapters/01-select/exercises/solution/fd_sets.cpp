// Reference solution for the fd_sets exercise (see ../fd_sets.hpp).
#include "fd_sets.hpp"

#include <algorithm>

namespace ioladder::ch01 {

Interest build_fd_sets(int listener, int wake_fd, std::span<const Connection> connections) {
    Interest in;
    FD_ZERO(&in.read);
    FD_ZERO(&in.write);

    // FD_SET on fd >= FD_SETSIZE writes past the end of the bitmap, so every
    // descriptor is checked before it gets anywhere near an fd_set.
    auto fits = [&in](int fd) {
        if (fd < FD_SETSIZE) return true;
        in.refused.push_back(fd);
        return false;
    };
    auto watch = [&in](int fd, fd_set& set) {
        FD_SET(fd, &set);
        in.nfds = std::max(in.nfds, fd + 1);
    };

    for (int fd : {listener, wake_fd})
        if (fd >= 0 && fits(fd)) watch(fd, in.read);

    for (const Connection& c : connections) {
        if (c.fd < 0 || !fits(c.fd)) continue;
        // Backpressure: no room for the echo, or nothing more will come.
        if (c.pending < c.capacity && !c.peer_closed) watch(c.fd, in.read);
        // Writability only while there is something to write; an idle
        // socket is always writable and select() would return at once.
        if (c.pending > 0) watch(c.fd, in.write);
    }
    return in;
}

} // namespace ioladder::ch01
