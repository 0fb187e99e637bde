// Reference solution for the drain_loop exercise (see ../drain_loop.hpp).
#include "drain_loop.hpp"

#include <cerrno>
#include <sys/epoll.h>
#include <sys/socket.h>

namespace ioladder::ch03 {

DrainResult drain_reads(int fd, uint32_t events, OutBuffer& out) {
    // With the peer's side shut (or an error), a short read may leave the
    // FIN (or the error) behind, and no edge will come for it; at an urgent
    // mark, recv() stops short with data behind the mark. Then only 0 or
    // EAGAIN ends the loop.
    const bool to_the_end = (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR | EPOLLPRI)) != 0;
    DrainResult r;
    for (;;) {
        if (out.full()) { // before recv(): its 0 for 0 bytes would look like FIN
            r.status = Drain::full;
            return r;
        }
        std::span<char> space = out.space();
        ssize_t n = recv(fd, space.data(), space.size(), 0);
        if (n > 0) {
            out.commit(static_cast<std::size_t>(n));
            r.bytes += static_cast<std::size_t>(n);
            if (static_cast<std::size_t>(n) < space.size() && !to_the_end) {
                r.status = Drain::drained; // a short read: the socket is empty
                return r;
            }
            continue;
        }
        if (n == 0) {
            r.status = Drain::peer_closed;
            return r;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            r.status = Drain::drained;
            return r;
        }
        r.status = Drain::failed; // r.bytes keeps what was read before the error
        r.error = errno;
        return r;
    }
}

} // namespace ioladder::ch03
