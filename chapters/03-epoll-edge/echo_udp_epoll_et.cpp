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
#include "udp_queue.hpp"

#include <array>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <vector>

using namespace ioladder;

namespace {

// What the edges told us, kept until a system call says EAGAIN.
struct Readiness {
    bool readable = false;
    bool writable = false;
};

// [snippet: edge-io]
// Chapter 01's queue I/O (udp_queue.hpp), and what each result says about
// the edge. Only EAGAIN clears a flag: a full queue leaves datagrams in the
// socket, and the kernel will not report them again. A datagram socket keeps
// message boundaries, so unlike TCP a short read proves nothing: UDP drains
// to EAGAIN.
void read_edge(int sock, OutQueue& queue, Readiness& r) {
    if (!r.readable || queue.full()) return;
    // An error (ENOMEM and the like) also clears it, instead of retrying in a
    // tight loop: each datagram that arrives raises a new edge, so this
    // delays the waiting ones until the next arrival; it does not lose them.
    if (read_datagrams(sock, queue) != ReadEnd::queue_full) r.readable = false;
}
void send_edge(int sock, OutQueue& queue, Readiness& r) {
    if (r.writable && !send_datagrams(sock, queue)) r.writable = false; // EAGAIN
}
// [/snippet]

// [snippet: register-once]
// Both directions, edge-triggered, once. The socket is writable now, so the
// first epoll_wait reports EPOLLOUT once; after that only changes.
int open_epoll(int sock, int shutdown_fd) {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLET;
    ev.data.fd = sock;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, sock, &ev) < 0) die("epoll_ctl ADD socket");
    ev.events = EPOLLIN; // level-triggered: we stop on it, nothing to drain
    ev.data.fd = shutdown_fd;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, shutdown_fd, &ev) < 0) die("epoll_ctl ADD shutdown pipe");
    return ep;
}
// [/snippet]

} // namespace

int main(int argc, char** argv) {
    EchoServer server(argc, argv,
                      "UDP echo server on edge-triggered epoll with a 64-datagram queue.",
                      SOCK_DGRAM);
    const int sock = server.fd();
    int ep = open_epoll(sock, server.shutdown_fd());
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
            if (events[i].data.fd == server.shutdown_fd()) {
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
            send_edge(sock, queue, r);
            read_edge(sock, queue, r);
        }
    }
    // [/snippet]

    send_datagrams(sock, queue); // one last try for what is queued; no waiting
    close(ep);
    IOLADDER_LOG("shut down");
    return 0;
}
