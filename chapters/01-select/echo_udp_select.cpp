// echo_udp_select.cpp: a UDP echo server on select(), multiplexing reads and
// writes through a small outgoing queue.
//
// What it shows
//   - One select() call waits for "a datagram arrived" and "there is room to
//     send" at the same time, so the server never stops reading just because
//     it is waiting to write (the flip-flop problem of a naive echo loop).
//   - Write interest is requested only while the queue holds something: a UDP
//     socket is almost always writable, so asking every time would make
//     select() return at once, forever (a busy loop).
//   - Backpressure: when the 64-slot queue is full the server stops asking to
//     read. Datagrams then wait in the kernel's receive buffer, and the kernel
//     drops them when that fills. Our memory stays fixed.
//   - A datagram larger than our 2048-byte buffer is detected (MSG_TRUNC),
//     logged and dropped, never echoed as a truncated copy.
//
// Run it
//   ./echo_udp_select --port 2000            (add -v to log every datagram)
//   nc -u 127.0.0.1 2000                     (type lines; each comes back)
//   strace -o udp.trace ./echo_udp_select --port 2000
//
// Left out on purpose: connected UDP sockets, IP_RECVERR, multiple sockets.
#include "echo_common.hpp"

#include <algorithm>
#include <array>
#include <sys/select.h>
#include <sys/uio.h>
#include <vector>

using namespace ioladder;

namespace {

constexpr std::size_t kQueueSlots = 64;    // as in the seed: a small, fixed queue
constexpr std::size_t kMaxDatagram = 2048; // larger datagrams are dropped, not truncated

struct Datagram {
    sockaddr_storage peer;
    socklen_t peer_len;
    std::size_t size;
    std::array<char, kMaxDatagram> data;
};

// [snippet: queue]
// A fixed ring of datagrams waiting to be echoed. All memory is allocated
// once, up front: a client that sends faster than we can echo fills the ring,
// and then we stop reading (see the event loop) instead of growing.
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

// [snippet: read-datagrams]
// Reads datagrams until the socket has none left (EAGAIN) or the queue is full.
static void read_datagrams(int sock, OutQueue& queue) {
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
            if (errno == EAGAIN || errno == EWOULDBLOCK) return; // drained
            if (errno == EINTR) continue;                        // a signal: retry
            warn("recvmsg: %s", std::strerror(errno));           // e.g. ENOMEM: keep serving
            return;
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
}
// [/snippet]

// [snippet: send-datagrams]
// Sends queued datagrams until the queue is empty or the socket is full.
static void send_datagrams(int sock, OutQueue& queue) {
    while (!queue.empty()) {
        Datagram& d = queue.front();
        ssize_t n = sendto(sock, d.data.data(), d.size, kSendFlags,
                           reinterpret_cast<sockaddr*>(&d.peer), d.peer_len);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return; // full: keep it, wait
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
}
// [/snippet]

} // namespace

int main(int argc, char** argv) {
    Options opt =
        parse_options(argc, argv, "UDP echo server on select() with a 64-datagram queue.");
    ShutdownPipe shutdown;
    int sock = open_bound_socket(opt, SOCK_DGRAM);
    // select() can only watch descriptors below FD_SETSIZE. At startup ours
    // are small unless a parent left hundreds open; refuse rather than corrupt.
    if (sock >= FD_SETSIZE || shutdown.fd() >= FD_SETSIZE) {
        warn("descriptor %d is not below FD_SETSIZE (%d); select() cannot watch it",
             std::max(sock, shutdown.fd()), FD_SETSIZE);
        return 1;
    }
    announce(sock, "udp");
    OutQueue queue;

    // [snippet: event-loop]
    for (;;) {
        // select() overwrites the sets with the ready descriptors, so they are
        // rebuilt from our state before every call.
        fd_set readable, writable;
        FD_ZERO(&readable);
        FD_ZERO(&writable);
        FD_SET(shutdown.fd(), &readable);
        if (!queue.full()) FD_SET(sock, &readable);  // full: stop reading (backpressure)
        if (!queue.empty()) FD_SET(sock, &writable); // only while something waits
        int nfds = std::max(sock, shutdown.fd()) + 1;

        int ready = select(nfds, &readable, &writable, nullptr, nullptr);
        if (ready < 0) {
            if (errno == EINTR) continue; // a signal arrived; the pipe tells us which
            die("select");
        }
        if (FD_ISSET(shutdown.fd(), &readable)) break;
        if (FD_ISSET(sock, &writable)) send_datagrams(sock, queue);
        if (FD_ISSET(sock, &readable)) read_datagrams(sock, queue);
    }
    // [/snippet]

    send_datagrams(sock, queue); // one last try for what is queued; no waiting
    close(sock);
    IOLADDER_LOG("shut down");
    return 0;
}
