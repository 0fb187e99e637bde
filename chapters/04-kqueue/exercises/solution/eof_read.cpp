// Reference solution for the eof_read exercise (see ../eof_read.hpp).
#include "eof_read.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <sys/socket.h>

namespace ioladder::ch04 {

EventRead read_event(const struct kevent& ev, std::string& out) {
    const bool eof = ev.flags & EV_EOF;
    if (eof && ev.fflags != 0) return {ReadEnd::reset, 0, static_cast<int>(ev.fflags)};
    const int fd = static_cast<int>(ev.ident);
    // Counted: read exactly `data` bytes (with EV_EOF, 0 is a count too).
    const bool counted = ev.data > 0 || eof;
    int64_t left = ev.data;
    EventRead r{ReadEnd::wait, 0, 0};
    while (!counted || left > 0) {
        char buf[kChunk];
        std::size_t ask =
            counted ? static_cast<std::size_t>(std::min<int64_t>(left, kChunk)) : kChunk;
        ssize_t n = recv(fd, buf, ask, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return r; // fewer than counted
        if (n < 0) return {ReadEnd::failed, r.bytes, errno};
        if (n == 0) return {ReadEnd::finished, r.bytes, 0}; // a FIN not reported yet
        out.append(buf, static_cast<std::size_t>(n));
        r.bytes += static_cast<std::size_t>(n);
        if (counted)
            left -= n; // a short read (an urgent mark) does not end it
        else if (static_cast<std::size_t>(n) < ask)
            return r; // not counted: a short read proves the socket empty
    }
    if (eof) r.end = ReadEnd::finished; // the FIN is next: no recv() to hear the 0
    return r;
}

} // namespace ioladder::ch04
