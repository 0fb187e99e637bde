// echo_udp_kqueue.cpp: a UDP echo server on kqueue, with the 64-datagram
// outgoing queue of chapter 01.
//
// What it shows
//   - Two filters on one socket, each added once with EV_CLEAR: EVFILT_READ
//     and EVFILT_WRITE. They travel to the kernel with the first wait, in
//     the same kevent() call.
//   - EV_CLEAR is edge triggering, so the loop keeps what the events said
//     (readable, writable) until recvmsg() or sendto() says EAGAIN, as
//     chapter 03's echo_udp_epoll_et does. A datagram socket keeps message
//     boundaries, so a short read proves nothing: it drains to EAGAIN.
//   - EVFILT_USER as the shutdown: SIGINT and SIGTERM arrive as a user event
//     that a small thread triggers (stop_event.hpp).
//   - A datagram larger than the 2048-byte buffer is detected (MSG_TRUNC),
//     logged and dropped, never echoed as a truncated copy.
//
// Run it
//   ./build/default/chapters/04-kqueue/echo_udp_kqueue --port 2000 -v
//   nc -u 127.0.0.1 2000
//   strace -f -o udp.trace ./build/default/chapters/04-kqueue/echo_udp_kqueue --port 2000
//
// Left out on purpose: using `data` to skip the last recvmsg(). For a
// datagram socket kqueue counts the bytes of all queued datagrams, which
// does not say where one ends, and the Linux layer does not count them at
// all; the recvmsg() that says EAGAIN is the safe end.
#include "changelist.hpp"
#include "log.hpp"
#include "options.hpp"
#include "socket_setup.hpp"
#include "stop_event.hpp"
#include "udp_queue.hpp"

#include <sys/event.h>
#include <unistd.h>

using namespace ioladder;
using ioladder::ch04::ChangeList;
using ioladder::ch04::StopEvent;

int main(int argc, char** argv) {
    Options opt =
        parse_options(argc, argv, "UDP echo server on kqueue (EV_CLEAR) with a 64-datagram queue.");
    int kq = kqueue();
    if (kq < 0) die("kqueue");
    {
        StopEvent stop(kq); // first: its thread waits for the signals before any client comes
        const int sock = open_bound_socket(opt, SOCK_DGRAM);
        ChangeList changes;
        // [snippet: register]
        // Two filters, added once. Nothing is asked of the kernel yet: the
        // changes go in with the first wait.
        changes.add(sock, EVFILT_READ, EV_ADD | EV_CLEAR);
        changes.add(sock, EVFILT_WRITE, EV_ADD | EV_CLEAR);
        // [/snippet]
        announce(sock, "udp");
        OutQueue queue;
        bool readable = false; // an event said so; no recvmsg() has said EAGAIN since
        bool writable = true;  // no sendto() has said EAGAIN since the last write event

        // [snippet: loop]
        struct kevent events[4];
        for (bool running = true; running;) {
            int n = changes.wait(kq, events, nullptr);
            for (int i = 0; i < n; ++i) {
                const struct kevent& ev = events[i];
                if (ev.flags & EV_ERROR) { // a change failed: the socket is not watched
                    errno = static_cast<int>(ev.data);
                    die("kevent EV_ADD");
                }
                if (ev.filter == EVFILT_USER) running = false;  // SIGINT or SIGTERM
                if (ev.filter == EVFILT_READ) readable = true;  // datagrams (or an error)
                if (ev.filter == EVFILT_WRITE) writable = true; // room to send
            }
            // Alternate until neither direction can move without a new event.
            while ((writable && !queue.empty()) || (readable && !queue.full())) {
                if (writable && !send_datagrams(sock, queue)) writable = false; // EAGAIN
                // A full queue leaves datagrams in the socket: `readable` stays
                // set, and reading resumes once sending has made room.
                if (readable && !queue.full() && read_datagrams(sock, queue) != ReadEnd::queue_full)
                    readable = false;
            }
        }
        // [/snippet]
        send_datagrams(sock, queue); // one last try for what is queued; no waiting
        close(sock);
    }
    close(kq);
    IOLADDER_LOG("shut down");
    return 0;
}
