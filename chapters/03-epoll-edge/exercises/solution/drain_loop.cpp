// Reference solution for the drain_loop exercise (see ../drain_loop.hpp).
#include "drain_loop.hpp"

#include <algorithm>
#include <cerrno>
#include <sys/socket.h>

namespace ioladder::ch03 {

DrainResult drain_reads(int fd, std::string& buf, std::size_t limit) {
    DrainResult r;
    for (;;) {
        std::size_t room = limit > buf.size() ? limit - buf.size() : 0;
        // Full: stop before recv(), whose 0 for a 0-byte read would look like
        // EOF. The socket may still be readable; the caller must remember it.
        if (room == 0) {
            r.status = Drain::full;
            return r;
        }
        std::size_t old = buf.size();
        buf.resize(old + std::min<std::size_t>(room, 16 * 1024));
        ssize_t n = ::recv(fd, buf.data() + old, buf.size() - old, 0);
        buf.resize(old + static_cast<std::size_t>(n > 0 ? n : 0));
        if (n > 0) {
            r.bytes += static_cast<std::size_t>(n);
            continue;
        }
        if (n == 0) {
            r.status = Drain::peer_closed;
            return r;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            r.status = Drain::drained; // the only status that ends "readable"
            return r;
        }
        r.status = Drain::failed;
        r.error = errno;
        return r;
    }
}

} // namespace ioladder::ch03
