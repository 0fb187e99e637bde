// udp_queue.hpp: the UDP echo servers' bounded outgoing queue and its I/O, the
// same in every chapter. Each server decides when to call read_datagrams()
// and send_datagrams(), from what its wait reported.
#pragma once

#include "log.hpp"
#include "socket_setup.hpp"

#include <array>
#include <cerrno>
#include <sys/socket.h>
#include <sys/uio.h>
#include <vector>

namespace ioladder {

inline constexpr std::size_t kQueueSlots = 64;    // as in the seed: a small, fixed queue
inline constexpr std::size_t kMaxDatagram = 2048; // larger datagrams are dropped, not cut

struct Datagram {
    sockaddr_storage peer;
    socklen_t peer_len;
    std::size_t size;
    std::array<char, kMaxDatagram> data;
};

// [snippet: queue]
// A fixed ring of datagrams waiting to be echoed. All memory is allocated
// once, up front: a client that sends faster than we can echo fills the ring,
// and then the server stops reading instead of growing.
class OutQueue {
  public:
    OutQueue() : slots_(kQueueSlots) {}
    bool empty() const { return count_ == 0; }
    bool full() const { return count_ == slots_.size(); }
    Datagram& free_slot() { return slots_[(head_ + count_) % slots_.size()]; }
    void push() { ++count_; } // commits the slot returned by free_slot()
    Datagram& front() { return slots_[head_]; }
    void pop() {
        head_ = (head_ + 1) % slots_.size();
        --count_;
    }

  private:
    std::vector<Datagram> slots_;
    std::size_t head_ = 0;
    std::size_t count_ = 0;
};
// [/snippet]

// Why read_datagrams() stopped.
enum class ReadEnd {
    drained,    // EAGAIN: the socket has no datagram left
    queue_full, // the socket may still hold datagrams
    error,      // recvmsg() failed (ENOMEM, ...); logged
};

// [snippet: read-datagrams]
// Reads datagrams until the socket has none left (EAGAIN) or the queue is
// full. A datagram socket keeps message boundaries, so a short read proves
// nothing here: only EAGAIN says the socket is empty.
inline ReadEnd read_datagrams(int sock, OutQueue& queue) {
    while (!queue.full()) {
        Datagram& d = queue.free_slot();
        iovec iov{d.data.data(), d.data.size()};
        msghdr msg{};
        msg.msg_name = &d.peer;
        msg.msg_namelen = sizeof d.peer;
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        ssize_t n = recvmsg(sock, &msg, 0);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return ReadEnd::drained;
            if (errno == EINTR) continue;              // a signal: retry
            warn("recvmsg: %s", std::strerror(errno)); // e.g. ENOMEM: keep serving
            return ReadEnd::error;
        }
        // The kernel cut the datagram to fit our buffer: echoing the prefix
        // would send the client something it never sent. Drop it, say so.
        if (msg.msg_flags & MSG_TRUNC) {
            warn("dropped a datagram from %s: truncated, larger than the %zu-byte buffer",
                 address_text(d.peer).c_str(), kMaxDatagram);
            continue;
        }
        d.peer_len = msg.msg_namelen;
        d.size = static_cast<std::size_t>(n);
        queue.push();
        IOLADDER_LOG("received %zd bytes from %s", n, address_text(d.peer).c_str());
    }
    return ReadEnd::queue_full;
}
// [/snippet]

// [snippet: send-datagrams]
// Sends queued datagrams until the queue is empty (true) or the socket's send
// buffer is full (false: EAGAIN, the rest stays queued).
inline bool send_datagrams(int sock, OutQueue& queue) {
    while (!queue.empty()) {
        Datagram& d = queue.front();
        ssize_t n = sendto(sock, d.data.data(), d.size, kSendFlags,
                           reinterpret_cast<sockaddr*>(&d.peer), d.peer_len);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return false; // full: keep it, wait
            if (errno == EINTR) continue;
            // Anything else (EHOSTUNREACH, ENOBUFS, ...) concerns this one
            // datagram: UDP promises no delivery, so drop it and go on.
            warn("sendto %s: %s (datagram dropped)", address_text(d.peer).c_str(),
                 std::strerror(errno));
        } else {
            IOLADDER_LOG("echoed %zd bytes to %s", n, address_text(d.peer).c_str());
        }
        queue.pop();
    }
    return true;
}
// [/snippet]

} // namespace ioladder
