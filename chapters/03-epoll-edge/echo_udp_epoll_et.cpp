// echo_udp_epoll_et.cpp: a UDP echo server on edge-triggered epoll, with the
// 64-datagram outgoing queue of chapter 01.
//
// What it shows
//   - One registration for the life of the socket: EPOLLIN | EPOLLOUT |
//     EPOLLET. No EPOLL_CTL_MOD to toggle write interest: under EPOLLET an
//     always-writable socket is reported when something changes, not on
//     every epoll_wait, so asking for EPOLLOUT up front costs no busy loop.
//   - Drain until EAGAIN, both ways: recvmsg() until EAGAIN (or the queue is
//     full), sendto() until EAGAIN (or the queue is empty).
//   - Backpressure with edges: a full queue stops reading while the socket is
//     still readable. No new edge will come for datagrams already waiting, so
//     the server remembers `readable` and resumes reading as soon as sending
//     has made room.
//   - A datagram larger than our 2048-byte buffer is detected (MSG_TRUNC),
//     logged and dropped, never echoed as a truncated copy.
//
// Run it
//   ./echo_udp_epoll_et --port 2000            (add -v to log every datagram)
//   nc -u 127.0.0.1 2000
//   strace -o udp.trace ./echo_udp_epoll_et --port 2000
//
// Left out on purpose: recvmmsg/sendmmsg batching, connected UDP sockets.
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

// A fixed ring of datagrams waiting to be echoed, as in chapter 01.
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

// What the edges told us, kept until a system call says EAGAIN.
struct Readiness {
    bool readable = false;
    bool writable = false;
};

// [snippet: read-datagrams]
// Reads until recvmsg() says EAGAIN or the queue is full. Only EAGAIN
// clears `readable`: a full queue leaves datagrams in the socket, and the
// kernel will not report them again.
void read_datagrams(int sock, OutQueue& queue, Readiness& r) {
    while (r.readable && !queue.full()) {
        Datagram& d = queue.free_slot();
        iovec iov{d.data.data(), d.data.size()};
        msghdr msg{};
        msg.msg_name = &d.peer;
        msg.msg_namelen = sizeof d.peer;
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        ssize_t n = recvmsg(sock, &msg, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                r.readable = false; // drained: the next EPOLLIN edge sets it again
                return;
            }
            // ENOMEM and the like: stop instead of retrying in a tight loop.
            // Each datagram that arrives raises a new edge, so this delays
            // the waiting ones until the next arrival; it does not lose them.
            warn("recvmsg: %s", std::strerror(errno));
            r.readable = false;
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

// Sends queued datagrams until the queue is empty or sendto() says EAGAIN.
void send_datagrams(int sock, OutQueue& queue, Readiness& r) {
    while (r.writable && !queue.empty()) {
        Datagram& d = queue.front();
        ssize_t n = sendto(sock, d.data.data(), d.size, kSendFlags,
                           reinterpret_cast<sockaddr*>(&d.peer), d.peer_len);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                r.writable = false; // full: keep it; the EPOLLOUT edge sets it again
                return;
            }
            // EHOSTUNREACH, ENOBUFS, ...: this one datagram; drop it, go on.
            warn("sendto %s: %s (datagram dropped)", address_text(d.peer).c_str(),
                 std::strerror(errno));
        } else {
            IOLADDER_LOG("echoed %zd bytes to %s", n, address_text(d.peer).c_str());
        }
        queue.pop();
    }
}

} // namespace

int main(int argc, char** argv) {
    Options opt = parse_options(
        argc, argv, "UDP echo server on edge-triggered epoll with a 64-datagram queue.");
    ShutdownPipe shutdown;
    int sock = open_bound_socket(opt, SOCK_DGRAM);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");

    // [snippet: register-once]
    // Both directions, edge-triggered, once. The socket is writable now, so
    // the first epoll_wait reports EPOLLOUT once; after that only changes.
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLET;
    ev.data.fd = sock;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, sock, &ev) < 0) die("epoll_ctl ADD socket");
    ev.events = EPOLLIN; // level-triggered: we stop on it, nothing to drain
    ev.data.fd = shutdown.fd();
    if (epoll_ctl(ep, EPOLL_CTL_ADD, shutdown.fd(), &ev) < 0) die("epoll_ctl ADD shutdown pipe");
    // [/snippet]
    announce(sock, "udp");
    OutQueue queue;
    Readiness r;

    // [snippet: event-loop]
    epoll_event events[2];
    for (;;) {
        int n = epoll_wait(ep, events, 2, -1);
        if (n < 0) {
            if (errno == EINTR) continue; // a signal arrived; the pipe tells us which
            die("epoll_wait");
        }
        bool stop = false;
        for (int i = 0; i < n; ++i) {
            if (events[i].data.fd == shutdown.fd()) {
                stop = true;
                continue;
            }
            // Record the edge; EPOLLERR comes unasked and recvmsg() reports it.
            if (events[i].events & (EPOLLIN | EPOLLERR)) r.readable = true;
            if (events[i].events & EPOLLOUT) r.writable = true;
        }
        if (stop) break;
        // Alternate until neither direction can move without a new edge.
        // Sending frees slots, and a datagram still waiting in the socket
        // (readable, queue was full) is read in the next pass.
        while ((r.writable && !queue.empty()) || (r.readable && !queue.full())) {
            send_datagrams(sock, queue, r);
            read_datagrams(sock, queue, r);
        }
    }
    // [/snippet]

    r.writable = true;
    send_datagrams(sock, queue, r); // one last try for what is queued; no waiting
    close(ep);
    close(sock);
    IOLADDER_LOG("shut down");
    return 0;
}
