// Exercise ch01 out_buffer: a bounded output buffer with backpressure.
// Read out_buffer.hpp first. Grade it: ctest --preset exercises -R out_buffer
#include "out_buffer.hpp"

#include <cerrno>
#include <cstring>
#include <sys/socket.h>

namespace ioladder::ch01 {

std::size_t OutBuffer::append([[maybe_unused]] std::span<const char> data) {
    // TODO: copy at most room() bytes of `data` after the pending bytes and
    // return how many were copied. The pending bytes are bytes_[head_, tail_).
    // room() includes the space that consume() freed at the front: when the
    // new bytes do not fit after tail_, move the pending bytes to the front
    // of bytes_ first (std::memmove). Never resize bytes_.
    return 0;
}

void OutBuffer::consume([[maybe_unused]] std::size_t n) {
    // TODO: drop the first n pending bytes (advance head_; never past tail_).
    // When nothing is left, reset head_ and tail_ to 0.
}

FlushResult flush([[maybe_unused]] int fd, [[maybe_unused]] OutBuffer& out) {
    // TODO: loop while `out` has pending bytes:
    //   send(fd, pending data, pending size, MSG_NOSIGNAL) -- use send(2), and
    //   MSG_NOSIGNAL so a vanished peer is an error, not a fatal SIGPIPE;
    //   n >= 0: consume n bytes and add them to `sent` (n may be less than
    //           asked: a partial write; keep going);
    //   EINTR: retry; EAGAIN/EWOULDBLOCK: stop with Flush::blocked, keep the rest;
    //   EPIPE/ECONNRESET: Flush::peer_gone with the errno in `error`;
    //   anything else: Flush::failed with the errno in `error`.
    // An empty buffer (at the start or after sending) is Flush::drained.
    return {Flush::failed, 0, ENOSYS};
}

} // namespace ioladder::ch01
