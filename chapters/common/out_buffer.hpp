// out_buffer.hpp: a connection's echo output, bounded and reused.
//
// The pending bytes are bytes_[head_, tail_). recv() writes straight into the
// free space after tail_ (space(), then commit()), send() takes from head_
// (pending(), then consume()). Nothing is value-initialised per read: the
// storage is allocated once, on first use, with `new char[]`, which leaves it
// uninitialised, and an idle connection that never sent anything costs no
// buffer at all. When the pending bytes sit at the end and the free space is
// at the front, space() moves them down first; in an echo server the buffer
// is empty after almost every send, so that move is rare and short.
//
// The capacity is the backpressure bound: a client that sends without
// reading fills the buffer, and then the server stops reading it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <span>

namespace ioladder {

// Echo output waiting for the client, per connection.
inline constexpr std::size_t kOutputLimit = 64 * 1024;

// [snippet: out-buffer]
class OutBuffer {
  public:
    explicit OutBuffer(std::size_t capacity = kOutputLimit) : capacity_(capacity) {}

    // The free space, contiguous, for recv() to fill; then commit(n).
    std::span<char> space() {
        if (!bytes_) bytes_.reset(new char[capacity_]); // default-initialised: not zeroed
        if (head_ > 0 && tail_ == capacity_) {          // the room is at the front: slide down
            std::memmove(bytes_.get(), bytes_.get() + head_, size());
            tail_ -= head_;
            head_ = 0;
        }
        return {bytes_.get() + tail_, capacity_ - tail_};
    }
    void commit(std::size_t n) { tail_ += std::min(n, capacity_ - tail_); }

    // The bytes still to send, oldest first; then consume(n) what send() took.
    std::span<const char> pending() const { return {bytes_.get() + head_, size()}; }
    void consume(std::size_t n) {
        head_ += std::min(n, size());
        if (head_ == tail_) head_ = tail_ = 0; // empty: the next read starts at the front
    }

    std::size_t size() const { return tail_ - head_; }
    std::size_t capacity() const { return capacity_; }
    std::size_t room() const { return capacity_ - size(); }
    bool empty() const { return head_ == tail_; }
    bool full() const { return size() == capacity_; }

  private:
    std::unique_ptr<char[]> bytes_; // allocated by the first space()
    std::size_t capacity_;
    std::size_t head_ = 0;
    std::size_t tail_ = 0;
};
// [/snippet]

} // namespace ioladder
