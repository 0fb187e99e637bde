// echo_udp_epoll_lt.cpp: the UDP echo server of chapter 01, on
// level-triggered epoll ("a better select", as the seed calls it).
//
// What it shows
//   - The interest list: the socket and the shutdown pipe are added once with
//     EPOLL_CTL_ADD. Unlike select(), nothing is rebuilt or copied per call.
//   - Write first: datagrams read are echoed at once. Write interest follows
//     what is left: EPOLLOUT is switched on with EPOLL_CTL_MOD only when
//     sendto() said EAGAIN with datagrams still queued, and off when they
//     have gone. A UDP socket is almost always writable, so leaving EPOLLOUT
//     on would make every epoll_wait() return at once (a busy loop).
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
// The queue and the two I/O helpers are chapter 01's, unchanged
// (chapters/common/udp_queue.hpp); only the event loop at the bottom is new.
// Left out on purpose: connected UDP sockets, IP_RECVERR, recvmmsg batching.
#include "echo_common.hpp"
#include "udp_queue.hpp"

#include <array>
#include <sys/epoll.h>

using namespace ioladder;

namespace {

// [snippet: interest]
// Makes the interest list for the socket match the queue: EPOLLIN while
// there is a free slot, EPOLLOUT while something waits to be sent. The
// system call happens only when that differs from what is registered.
void update_interest(int epfd, int sock, const OutQueue& queue, uint32_t& registered) {
    uint32_t want = 0;
    if (!queue.full()) want |= EPOLLIN;   // full: stop reading (backpressure)
    if (!queue.empty()) want |= EPOLLOUT; // only while something waits
    if (want == registered) return;
    epoll_event ev{};
    ev.events = want;
    ev.data.fd = sock;
    // MOD on a registered, open descriptor fails only for lack of kernel
    // memory (ENOMEM). Keep serving: `registered` stays as it was, so the
    // next turn of the loop tries again.
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, sock, &ev) < 0) {
        warn("epoll_ctl MOD: %s (will retry)", std::strerror(errno));
        return;
    }
    registered = want;
}
// [/snippet]

} // namespace

int main(int argc, char** argv) {
    EchoServer server(argc, argv,
                      "UDP echo server on level-triggered epoll with a 64-datagram queue.",
                      SOCK_DGRAM);
    OutQueue queue; // chapter 01's 64 datagrams, allocated once
    const int sock = server.fd();

    // [snippet: register]
    int epfd = epoll_create1(EPOLL_CLOEXEC); // not inherited across exec()
    if (epfd < 0) die("epoll_create1");
    // Registered once. data.fd comes back in every report for the descriptor.
    for (int fd : {server.shutdown_fd(), sock}) {
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
            if (ready[i].data.fd == server.shutdown_fd()) stop = true;
            if (ready[i].data.fd == sock) rev = ready[i].events;
        }
        if (stop) break;
        // EPOLLERR comes unasked (a pending socket error): recvmsg() below
        // returns it and logs it, which also clears it.
        if (rev & EPOLLOUT) send_datagrams(sock, queue);
        if (rev & (EPOLLIN | EPOLLERR)) {
            read_datagrams(sock, queue);
            send_datagrams(sock, queue); // write first: echo now, arm EPOLLOUT only if full
        }
        update_interest(epfd, sock, queue, registered);
    }
    // [/snippet]

    send_datagrams(sock, queue); // one last try for what is queued; no waiting
    close(epfd);
    IOLADDER_LOG("shut down");
    return 0;
}
