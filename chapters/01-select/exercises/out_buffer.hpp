// Exercise ch01 out_buffer: a bounded output buffer with backpressure, and
// flushing it to a non-blocking socket.
//
// An echo server must not grow without bound when a client sends faster than
// it reads. Each connection gets a fixed-size output buffer: the server reads
// from the client only as much as fits (append() accepts at most room()),
// and when the buffer is full it stops reading that client until send() has
// drained some of it. send() on a non-blocking socket may take only part of
// what it is given, or nothing at all (EAGAIN); what it did not take stays
// buffered, in order, for the next time select() reports the socket writable.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

namespace ioladder::ch01 {

class OutBuffer {
  public:
    explicit OutBuffer(std::size_t capacity) : bytes_(capacity) {}

    // Copies as much of `data` as fits in the room left and returns how many
    // bytes it took (0 when full). Never grows beyond capacity().
    std::size_t append(std::span<const char> data);

    // Drops the first n pending bytes (n <= size()), e.g. after send() took them.
    void consume(std::size_t n);

    // The pending bytes, oldest first, as one contiguous run.
    std::span<const char> pending() const { return {bytes_.data() + head_, tail_ - head_}; }

    std::size_t size() const { return tail_ - head_; }
    std::size_t capacity() const { return bytes_.size(); }
    std::size_t room() const { return capacity() - size(); }
    bool empty() const { return size() == 0; }
    bool full() const { return room() == 0; }

  private:
    // The data members are chosen for you: the pending bytes are
    // bytes_[head_, tail_), and bytes_ never changes size.
    std::vector<char> bytes_;
    std::size_t head_ = 0;
    std::size_t tail_ = 0;
};

enum class Flush {
    drained,   // everything pending was sent; the buffer is empty
    blocked,   // the socket is full (EAGAIN): the rest stays buffered
    peer_gone, // EPIPE or ECONNRESET: the client is gone, close the connection
    failed,    // any other error, in `error`
};

struct FlushResult {
    Flush status = Flush::failed;
    std::size_t sent = 0; // bytes sent (and consumed) by this call
    int error = 0;        // errno for peer_gone and failed, else 0
};

// Sends the pending bytes of `out` on the non-blocking socket `fd` with
// send(..., MSG_NOSIGNAL) until the buffer is empty or the socket is full,
// consuming what was sent.
FlushResult flush(int fd, OutBuffer& out);

} // namespace ioladder::ch01
