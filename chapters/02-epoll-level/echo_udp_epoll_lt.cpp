// echo_udp_epoll_lt.cpp: the UDP echo server of chapter 01, on
// level-triggered epoll ("a better select", as the seed calls it).
//
// What it shows
//   - The interest list: the socket and the shutdown pipe are added once with
//     EPOLL_CTL_ADD. Unlike select(), nothing is rebuilt or copied per call.
//   - Write interest follows the queue. EPOLLOUT is switched on with
//     EPOLL_CTL_MOD when the queue becomes non-empty and off when it drains:
//     a UDP socket is almost always writable, so leaving EPOLLOUT on would
//     make every epoll_wait() return at once (a busy loop).
//   - Backpressure: while the 64-slot queue is full, EPOLLIN is dropped from
//     the interest, and datagrams wait in (and overflow from) the kernel's
//     receive buffer. Our memory stays fixed.
//   - A datagram larger than 2048 bytes is detected (MSG_TRUNC), logged as
//     truncated and dropped, never echoed as a cut copy.
//
// Run it
//   ./echo_udp_epoll_lt --port 2000          (add -v to log every datagram)
//   nc -u 127.0.0.1 2000                     (type lines; each comes back)
//   strace -e trace=epoll_wait,epoll_ctl,recvmsg,sendto ./echo_udp_epoll_lt --port 2000
//
// The queue and the two I/O helpers are chapter 01's, unchanged; only the
// event loop at the bottom is new.
// Left out on purpose: connected UDP sockets, IP_RECVERR, recvmmsg batching.
#include "echo_common.hpp"

#include <array>
#include <sys/epoll.h>
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

// [snippet: interest]
// Makes the interest list for the socket match the queue: EPOLLIN while
// there is a free slot, EPOLLOUT while something waits to be sent. The
// system call happens only when that differs from what is registered.
static void update_interest(int epfd, int sock, const OutQueue& queue, uint32_t& registered) {
    uint32_t want = 0;
    if (!queue.full()) want |= EPOLLIN;   // full: stop reading (backpressure)
    if (!queue.empty()) want |= EPOLLOUT; // only while something waits
    if (want == registered) return;
    epoll_event ev{};
    ev.events = want;
    ev.data.fd = sock;
    // MOD on a registered, open descriptor fails only for lack of kernel memory.
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, sock, &ev) < 0) die("epoll_ctl MOD");
    registered = want;
}
// [/snippet]

} // namespace

int main(int argc, char** argv) {
    Options opt = parse_options(
        argc, argv, "UDP echo server on level-triggered epoll with a 64-datagram queue.");
    ShutdownPipe shutdown;
    int sock = open_bound_socket(opt, SOCK_DGRAM);
    OutQueue queue;

    // [snippet: register]
    int epfd = epoll_create1(EPOLL_CLOEXEC); // not inherited across exec()
    if (epfd < 0) die("epoll_create1");
    // Registered once. data.fd comes back in every report for the descriptor.
    for (int fd : {shutdown.fd(), sock}) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = fd;
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl ADD");
    }
    uint32_t registered = EPOLLIN; // what the interest list holds for sock
    // [/snippet]
    announce(sock, "udp"); // once the loop is ready, epoll instance included

    // [snippet: event-loop]
    std::array<epoll_event, 2> ready; // two descriptors: at most two reports
    for (;;) {
        int n = epoll_wait(epfd, ready.data(), static_cast<int>(ready.size()), -1);
        if (n < 0) {
            if (errno == EINTR) continue; // a signal arrived; the pipe tells us which
            die("epoll_wait");
        }
        uint32_t rev = 0;
        bool stop = false;
        for (int i = 0; i < n; ++i) {
            if (ready[i].data.fd == shutdown.fd()) stop = true;
            if (ready[i].data.fd == sock) rev = ready[i].events;
        }
        if (stop) break;
        // EPOLLERR comes unasked (a pending socket error): recvmsg() below
        // returns it and logs it, which also clears it.
        if (rev & EPOLLOUT) send_datagrams(sock, queue);
        if (rev & (EPOLLIN | EPOLLERR)) read_datagrams(sock, queue);
        update_interest(epfd, sock, queue, registered);
    }
    // [/snippet]

    send_datagrams(sock, queue); // one last try for what is queued; no waiting
    close(sock);
    close(epfd);
    IOLADDER_LOG("shut down");
    return 0;
}
