// Reference solution for the write_first exercise (see ../write_first.hpp).
#include "write_first.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sys/socket.h>

namespace ioladder::ch01 {

namespace {

// Copies `bytes` behind the pending ones. space() may offer less than all the
// room at first (the free space is split); the next call slides and offers more.
void queue(OutBuffer& out, std::span<const char> bytes) {
    while (!bytes.empty()) {
        std::span<char> space = out.space();
        std::size_t n = std::min(space.size(), bytes.size());
        if (n == 0) return; // only if the caller broke the precondition
        std::memcpy(space.data(), bytes.data(), n);
        out.commit(n);
        bytes = bytes.subspan(n);
    }
}

} // namespace

ReplyResult send_reply(int fd, std::span<const char> reply, OutBuffer& out) {
    ReplyResult r;
    if (!out.empty()) {
        // The loop is already waiting for writability: sending now would
        // overtake the pending bytes (or just meet EAGAIN).
        queue(out, reply);
        r.status = Reply::queued;
        return r;
    }
    while (r.sent < reply.size()) {
        ssize_t n = send(fd, reply.data() + r.sent, reply.size() - r.sent, MSG_NOSIGNAL);
        if (n >= 0) {
            r.sent += static_cast<std::size_t>(n); // short or not: ask again
            continue;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            queue(out, reply.subspan(r.sent)); // only now is the socket full
            r.status = Reply::queued;
            return r;
        }
        r.status = Reply::failed;
        r.error = errno;
        return r;
    }
    r.status = Reply::sent;
    return r;
}

} // namespace ioladder::ch01
