// Reference solution for the out_buffer exercise (see ../out_buffer.hpp).
#include "out_buffer.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sys/socket.h>

namespace ioladder::ch01 {

std::size_t OutBuffer::append(std::span<const char> data) {
    std::size_t n = std::min(data.size(), room());
    if (n == 0) return 0;
    // room() counts the space freed at the front by consume(); to use it,
    // move the pending bytes down first. Cheap: the buffer is small.
    if (tail_ + n > bytes_.size()) {
        std::memmove(bytes_.data(), bytes_.data() + head_, size());
        tail_ -= head_;
        head_ = 0;
    }
    std::memcpy(bytes_.data() + tail_, data.data(), n);
    tail_ += n;
    return n;
}

void OutBuffer::consume(std::size_t n) {
    head_ += std::min(n, size());
    if (head_ == tail_) head_ = tail_ = 0;
}

FlushResult flush(int fd, OutBuffer& out) {
    FlushResult r;
    while (!out.empty()) {
        std::span<const char> p = out.pending();
        // MSG_NOSIGNAL: a peer that has gone away is EPIPE here, not a
        // SIGPIPE that kills the whole server (send(2)).
        ssize_t n = send(fd, p.data(), p.size(), MSG_NOSIGNAL);
        if (n >= 0) {
            out.consume(static_cast<std::size_t>(n));
            r.sent += static_cast<std::size_t>(n);
            continue; // a partial write: try the rest, the socket says when it is full
        }
        if (errno == EINTR) continue; // interrupted by a signal: nothing sent, retry
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            r.status = Flush::blocked; // wait for select() to report writable
            return r;
        }
        r.error = errno;
        r.status = (errno == EPIPE || errno == ECONNRESET) ? Flush::peer_gone : Flush::failed;
        return r;
    }
    r.status = Flush::drained;
    return r;
}

} // namespace ioladder::ch01
