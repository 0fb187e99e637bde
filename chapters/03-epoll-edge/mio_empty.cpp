// mio_empty.cpp: an epoll instance with nothing registered but a waker, the
// equivalent of the seed's mio-empty.
//
// What it shows
//   - What a mio-style event loop sets up before you register anything: the
//     epoll instance, the waker's descriptor, and one EPOLL_CTL_ADD for it,
//     edge-triggered. Then it sleeps in epoll_wait, using no CPU, until
//     something wakes it.
//   - The waker doubles as the shutdown path: the SIGINT/SIGTERM handler sets
//     a flag and calls wake(), which is async-signal-safe (one write(2)).
//   - The loop never reads the waker: the trace shows one write per wake and
//     no read.
//
// clang-format off
// Run it (built twice, once per waker), stopped by a signal after a second:
//   ./build/default/chapters/03-epoll-edge/mio_empty_eventfd & pid=$!; sleep 1; kill $pid; wait $pid
//   strace -f ./build/default/chapters/03-epoll-edge/mio_empty_selfpipe      (Ctrl-C stops it)
// and compare pipe2 + EPOLL_CTL_ADD of the read end with eventfd2 + ADD.
// clang-format on
//
// Left out on purpose: any socket. That is the point.
#include "log.hpp"
#include "options.hpp"
#include "stop_signal.hpp"
#include "waker.hpp"

#include <csignal>
#include <string>
#include <sys/epoll.h>
#include <unistd.h>

using namespace ioladder;
using ioladder::ch03::StopOnSignal;
using ioladder::ch03::Waker;

int main(int argc, char** argv) {
    const std::string summary =
        std::string("An epoll instance with nothing registered but its waker (") + Waker::kind() +
        "). It waits\nuntil SIGINT or SIGTERM, whose handler wakes it, then exits 0.";
    parse_args(argc, argv, summary.c_str(), {});

    // [snippet: empty-setup]
    Waker waker;
    StopOnSignal stop_signal(waker); // SIGINT/SIGTERM: a reason, then a wake

    int epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) die("epoll_create1");
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLET; // each wake() is one new edge; never read
    ev.data.fd = waker.fd();
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, waker.fd(), &ev) < 0) die("epoll_ctl ADD waker");
    // [/snippet]
    std::printf("%s: pid %d waiting in epoll_wait, nothing registered but its waker (%s, fd %d)\n",
                g_program, static_cast<int>(getpid()), Waker::kind(), waker.fd());
    std::fflush(stdout);

    // [snippet: empty-loop]
    int wakeups = 0;
    for (bool stop = false; !stop;) {
        epoll_event events[4];
        int n = epoll_wait(epfd, events, 4, -1);
        if (n < 0) {
            if (errno == EINTR) continue; // the handler ran here; its wake is pending
            die("epoll_wait");
        }
        for (int i = 0; i < n; ++i) {
            if (events[i].data.fd != waker.fd()) continue; // nothing else is registered
            ++wakeups;
            // No read: epoll_wait used up the edge. Look at the reason now; a
            // wake that lands after this line is a new edge, seen next turn.
            stop = stop_signal.requested();
        }
    }
    // [/snippet]

    close(epfd);
    std::printf("%s: stopped by a signal after %d wakeup(s)\n", g_program, wakeups);
    return 0;
}
