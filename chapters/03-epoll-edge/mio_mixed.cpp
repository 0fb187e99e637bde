// mio_mixed.cpp: one epoll instance fed by a socket and by another thread,
// the equivalent of the seed's mio-mixed.
//
// What it shows
//   - System events (a UDP datagram arrived) and user-space events (a timer
//     thread says "tick") reach the same epoll_wait. The timer thread cannot
//     make a socket readable, so it calls wake(), and the waker's descriptor
//     becomes readable like any socket.
//   - The reason travels beside the wake: the thread counts its ticks in an
//     atomic, the signal handler sets a flag, then each calls wake(). The
//     waker is edge-triggered and never read; the loop reads the reasons
//     after epoll_wait returns, so no reason is missed (a wake after that is
//     a new edge, reported on the next turn).
//   - Two kinds of registration on one epoll: the socket level-triggered
//     (the loop reads at most kReadBudget datagrams a turn and is told again
//     about the rest), the waker edge-triggered.
//   - The loop counts timer wakeups and datagrams separately, and echoes the
//     datagrams.
//
// Run it (built twice, once per waker):
//   ./build/default/chapters/03-epoll-edge/mio_mixed_eventfd --ticks 3  (3 s apart, as in the seed)
//   nc -u 127.0.0.1 2000                                                   (from another terminal)
//   strace -f ./build/default/chapters/03-epoll-edge/mio_mixed_selfpipe --interval-ms 300 --ticks 3
// and watch the timer thread's write() end the main thread's epoll_wait.
//
// Left out on purpose: the outgoing queue of the real UDP echo servers
// (echo_udp_epoll_et). A datagram the socket cannot send right now is
// dropped and logged; memory stays fixed either way.
#include "log.hpp"
#include "options.hpp"
#include "socket_setup.hpp"
#include "stop_signal.hpp"
#include "waker.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <mutex>
#include <stop_token>
#include <sys/epoll.h>
#include <thread>
#include <unistd.h>

using namespace ioladder;
using ioladder::ch03::StopOnSignal;
using ioladder::ch03::Waker;

namespace {

constexpr std::size_t kMaxDatagram = 2048;
constexpr int kReadBudget = 16; // datagrams per wakeup, so the waker is not starved
constexpr const char* kSummary =
    "UDP echo plus a timer thread that wakes the epoll loop through a waker.";

// Echoes up to kReadBudget datagrams; returns how many were echoed.
int echo_datagrams(int sock) {
    int echoed = 0;
    for (int i = 0; i < kReadBudget; ++i) {
        char buf[kMaxDatagram];
        sockaddr_storage peer{};
        socklen_t peer_len = sizeof peer;
        // MSG_TRUNC: the return value is the datagram's real size (udp(7)).
        ssize_t n = recvfrom(sock, buf, sizeof buf, MSG_TRUNC, reinterpret_cast<sockaddr*>(&peer),
                             &peer_len);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) warn("recvfrom: %s", std::strerror(errno));
            break; // EAGAIN: drained
        }
        if (static_cast<std::size_t>(n) > sizeof buf) {
            warn("dropped a %zd-byte datagram from %s: larger than the buffer", n,
                 address_text(peer).c_str());
            continue;
        }
        if (sendto(sock, buf, static_cast<std::size_t>(n), kSendFlags,
                   reinterpret_cast<sockaddr*>(&peer), peer_len) < 0) {
            // EAGAIN included: no queue here (see the header), UDP may drop.
            warn("sendto %s: %s (datagram dropped)", address_text(peer).c_str(),
                 std::strerror(errno));
            continue;
        }
        ++echoed;
    }
    return echoed;
}

} // namespace

int main(int argc, char** argv) {
    long interval_ms = 3000, max_ticks = 0;
    Options opt = parse_options(
        argc, argv, kSummary,
        {Option::Number("--interval-ms", "N", &interval_ms, 1, 86400000,
                        "the timer thread wakes the loop every N ms (default 3000)"),
         Option::Number("--ticks", "K", &max_ticks, 0, 86400000,
                        "exit 0 after K timer wakeups (default 0: until SIGINT/SIGTERM)")});

    Waker waker;
    StopOnSignal stop_signal(waker); // SIGINT/SIGTERM: a reason, then a wake
    int sock = open_bound_socket(opt, SOCK_DGRAM);
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) die("epoll_create1");
    // [snippet: mixed-register]
    epoll_event ev{};
    ev.events = EPOLLIN; // level-triggered: reported again while datagrams wait
    ev.data.fd = sock;
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, sock, &ev) < 0) die("epoll_ctl ADD socket");
    ev.events = EPOLLIN | EPOLLET; // one report per wake(), never read
    ev.data.fd = waker.fd();
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, waker.fd(), &ev) < 0) die("epoll_ctl ADD waker");
    // [/snippet]
    announce(sock, "udp");

    // [snippet: timer-thread]
    std::atomic<long> ticks_sent{0};
    std::jthread timer([&](std::stop_token stop) {
        std::mutex m;
        std::condition_variable_any cv;
        std::unique_lock lock(m);
        // Sleeps one interval; returns early (true) only when asked to stop.
        while (!cv.wait_for(lock, stop, std::chrono::milliseconds(interval_ms),
                            [&] { return stop.stop_requested(); })) {
            ticks_sent.fetch_add(1, std::memory_order_relaxed); // the reason...
            waker.wake();                                       // ...then the wake
        }
    });
    // [/snippet]

    // [snippet: mixed-loop]
    long timer_wakeups = 0, datagrams = 0;
    bool stop = false;
    while (!stop && (max_ticks == 0 || timer_wakeups < max_ticks)) {
        epoll_event events[8];
        int n = epoll_wait(epfd, events, 8, -1);
        if (n < 0 && errno != EINTR) die("epoll_wait");
        // EINTR: the handler ran here and its wake is pending; n < 0 skips the
        // loop below and we wait again.
        for (int i = 0; i < n; ++i) {
            if (events[i].data.fd == waker.fd()) {
                stop = stop_signal.requested(); // the reasons, after the wait; no read
                if (stop) break;
                ++timer_wakeups;
                IOLADDER_LOG("timer wakeup %ld (ticks sent so far %ld)", timer_wakeups,
                             ticks_sent.load(std::memory_order_relaxed));
            } else {
                int echoed = echo_datagrams(sock);
                datagrams += echoed;
                IOLADDER_LOG("echoed %d datagram(s)", echoed);
            }
        }
    }
    // [/snippet]

    timer.request_stop();
    timer.join();
    close(epfd);
    close(sock);
    std::printf("%s: waker=%s ticks_sent=%ld timer_wakeups=%ld datagrams=%ld\n", g_program,
                Waker::kind(), ticks_sent.load(), timer_wakeups, datagrams);
    return 0;
}
