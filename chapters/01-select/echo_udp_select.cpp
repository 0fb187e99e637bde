// echo_udp_select.cpp: a UDP echo server on select(), multiplexing reads and
// writes through a small outgoing queue.
//
// What it shows
//   - One select() call waits for "a datagram arrived" and "there is room to
//     send" at the same time, so the server never stops reading just because
//     it is waiting to write (the flip-flop problem of a naive echo loop).
//   - Write first: datagrams read are echoed straight away. Write interest is
//     requested only while the queue still holds something after that (the
//     socket's send buffer was full): a UDP socket is almost always writable,
//     so asking every time would make select() return at once, forever.
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
// The queue and its two I/O helpers are in chapters/common/udp_queue.hpp,
// shared with the UDP servers of later chapters.
// Left out on purpose: connected UDP sockets, IP_RECVERR, multiple sockets.
#include "echo_common.hpp"
#include "udp_queue.hpp"

#include <algorithm>
#include <sys/select.h>

using namespace ioladder;

int main(int argc, char** argv) {
    EchoServer server(argc, argv, "UDP echo server on select() with a 64-datagram queue.",
                      SOCK_DGRAM);
    const int sock = server.fd();
    // select() can only watch descriptors below FD_SETSIZE. At startup ours
    // are small unless a parent left hundreds open; refuse rather than corrupt.
    if (sock >= FD_SETSIZE || server.shutdown_fd() >= FD_SETSIZE) {
        warn("descriptor %d is not below FD_SETSIZE (%d); select() cannot watch it",
             std::max(sock, server.shutdown_fd()), FD_SETSIZE);
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
        FD_SET(server.shutdown_fd(), &readable);
        if (!queue.full()) FD_SET(sock, &readable);  // full: stop reading (backpressure)
        if (!queue.empty()) FD_SET(sock, &writable); // only while something waits
        int nfds = std::max(sock, server.shutdown_fd()) + 1;

        int ready = select(nfds, &readable, &writable, nullptr, nullptr);
        if (ready < 0) {
            if (errno == EINTR) continue; // a signal arrived; the pipe tells us which
            die("select");
        }
        if (FD_ISSET(server.shutdown_fd(), &readable)) break;
        if (FD_ISSET(sock, &writable)) send_datagrams(sock, queue);
        if (FD_ISSET(sock, &readable)) {
            read_datagrams(sock, queue);
            send_datagrams(sock, queue); // write first: echo now, wait only if the socket is full
        }
    }
    // [/snippet]

    send_datagrams(sock, queue); // one last try for what is queued; no waiting
    IOLADDER_LOG("shut down");
    return 0;
}
