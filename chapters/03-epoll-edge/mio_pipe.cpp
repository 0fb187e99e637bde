// mio_pipe.cpp: what an edge-triggered waker that is never read does with a
// wake nobody waits for, with wakes that pile up, and with a full waker; the
// equivalent of the seed's mio-pipe (which showed mio 0.6 writing its wake
// pipe while no thread was in epoll_wait: mio issue #785).
//
// What it shows, in five phases (--phase picks one):
//   late        wake() with no thread in epoll_wait: the next epoll_wait
//               reports it once, the one after does not. No read anywhere.
//   one-by-one  another thread wakes the loop --rounds times, waiting each
//               time until the loop has seen it: as many wakeups as wakes,
//               and under strace, a write per wake and not one read.
//   coalesced   another thread calls wake() --wakes times while the loop is
//               not looking: one wakeup. The pipe fills after 65536 unread
//               wakes and wake() drains it once (drains=1); the eventfd
//               just counts.
//   full        the waker is filled up, the loop takes the report, then one
//               wake(): its write would block, so it drains and writes again,
//               and the loop is woken. Ignoring that EAGAIN would lose it.
//   concurrent  the thread publishes work (an atomic counter) and wakes while
//               the loop waits; the loop re-reads the counter after each
//               wakeup and never waits in vain (a lost wake would leave it
//               asleep: the 2-second limit would catch it).
//
// clang-format off
// Run it (built twice, once per waker):
//   ./build/default/chapters/03-epoll-edge/mio_pipe_selfpipe
//   strace -f -e trace=write,read,epoll_wait ./build/default/chapters/03-epoll-edge/mio_pipe_eventfd --phase one-by-one --rounds 3
// clang-format on
// Exit 0 when every phase behaved as above, 1 (naming the phase) otherwise.
#include "log.hpp"
#include "options.hpp"
#include "waker.hpp"

#include <atomic>
#include <chrono>
#include <string>
#include <sys/epoll.h>
#include <thread>
#include <unistd.h>

using namespace ioladder;
using ioladder::ch03::Waker;
using Clock = std::chrono::steady_clock;

namespace {

// One epoll_wait; returns how many events it reported (only the waker is
// registered, so 0 or 1).
int wait_once(int epfd, int timeout_ms) {
    epoll_event ev[2];
    for (;;) {
        int n = epoll_wait(epfd, ev, 2, timeout_ms);
        if (n >= 0) return n;
        if (errno != EINTR) die("epoll_wait");
    }
}

bool expect(bool ok, const char* phase, const char* what) {
    if (!ok) warn("%s: %s", phase, what);
    return ok;
}

} // namespace

int main(int argc, char** argv) {
    long wakes = 100000, rounds = 1000;
    std::string phase = "all";
    const std::string summary = std::string("Wakes an edge-triggered waker (") + Waker::kind() +
                                ") that is never read, in five phases, and prints what\n"
                                "epoll_wait saw. Exit 1 naming the phase that misbehaved.";
    parse_args(argc, argv, summary.c_str(),
               {Option::Text("--phase", "NAME", &phase,
                             "all|late|one-by-one|coalesced|full|concurrent (default all)",
                             "all|late|one-by-one|coalesced|full|concurrent"),
                Option::Number("--wakes", "N", &wakes, 1, 100000000,
                               "wakes for coalesced and concurrent (default 100000)"),
                Option::Number("--rounds", "N", &rounds, 1, 1000000,
                               "wake-and-wait rounds for one-by-one (default 1000)")});
    auto run = [&](const char* name) { return phase == "all" || phase == name; };

    // [snippet: pipe-setup]
    Waker waker;
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) die("epoll_create1");
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLET;
    ev.data.fd = waker.fd();
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, waker.fd(), &ev) < 0) die("epoll_ctl ADD waker");
    // [/snippet]
    std::printf("waker=%s fd=%d\n", Waker::kind(), waker.fd());
    std::fflush(stdout); // before any thread writes (strace shows the order)
    bool ok = true;

    if (run("late")) {
        // [snippet: late-wake]
        waker.wake(); // nobody is in epoll_wait now
        int first = wait_once(epfd, 1000);
        int second = wait_once(epfd, 0); // the edge is used up: nothing, and no read
        // [/snippet]
        std::printf("late: wakes=1 first_wait=%d second_wait=%d\n", first, second);
        ok &= expect(first == 1 && second == 0, "late",
                     "a wake while nobody waited was not reported exactly once");
    }

    if (run("one-by-one")) {
        // [snippet: one-by-one]
        std::atomic<long> seen{0};
        std::thread waking([&] {
            for (long i = 1; i <= rounds; ++i) {
                waker.wake();
                seen.wait(i - 1); // until the loop has taken this wake
            }
        });
        long wakeups = 0;
        while (wakeups < rounds && wait_once(epfd, 2000) == 1) {
            seen.store(++wakeups); // no read: the next wake() is the next edge
            seen.notify_one();
        }
        seen.store(rounds); // if a wake was lost: release the waking thread
        seen.notify_one();
        waking.join();
        // [/snippet]
        std::printf("one-by-one: wakes=%ld wakeups=%ld drains=%llu\n", rounds, wakeups,
                    static_cast<unsigned long long>(waker.drains()));
        ok &= expect(wakeups == rounds, "one-by-one", "a wake was not reported (2 s asleep)");
    }

    if (run("coalesced")) {
        const auto drains_before = waker.drains();
        // [snippet: coalesced-wakes]
        auto start = Clock::now();
        std::thread([&] {
            for (long i = 0; i < wakes; ++i)
                waker.wake(); // never blocks: a full pipe is drained, then written
        }).join();
        double wake_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
        int wakeups = 0;
        while (wait_once(epfd, wakeups == 0 ? 1000 : 0) > 0)
            ++wakeups;
        // [/snippet]
        std::printf("coalesced: wakes=%ld wakeups=%d drains=%llu wake_ms=%.1f\n", wakes, wakeups,
                    static_cast<unsigned long long>(waker.drains() - drains_before), wake_ms);
        ok &= expect(wakeups == 1, "coalesced",
                     "many wakes before the loop looked were not exactly one wakeup");
    }

    if (run("full")) {
        const auto drains_before = waker.drains();
        // [snippet: full-wake]
        waker.fill();                      // as if every wake so far had gone unread
        int edge = wait_once(epfd, 1000);  // the loop takes that report, and reads nothing
        waker.wake();                      // write -> EAGAIN -> drain -> write
        int woken = wait_once(epfd, 1000); // a fresh edge: not lost
        // [/snippet]
        const auto drains = waker.drains() - drains_before;
        std::printf("full: first_wait=%d drains=%llu woken=%d\n", edge,
                    static_cast<unsigned long long>(drains), woken);
        ok &= expect(edge == 1 && drains == 1 && woken == 1, "full",
                     "a wake on a full waker did not drain once and wake the loop");
    }

    if (run("concurrent")) {
        // [snippet: concurrent-wakes]
        std::atomic<long> published{0};
        std::thread producer([&] {
            for (long i = 0; i < wakes; ++i) {
                published.fetch_add(1, std::memory_order_release); // the work...
                waker.wake();                                      // ...then the wake
            }
        });
        long loop_wakeups = 0;
        bool lost = false;
        while (published.load(std::memory_order_acquire) < wakes) {
            // Work is still coming, so a wake is still coming: waiting is safe.
            if (wait_once(epfd, 2000) == 0) {
                lost = true; // 2 s asleep while work was pending: a lost wake
                break;
            }
            ++loop_wakeups; // no read; the counter is re-read at the top
        }
        producer.join();
        // [/snippet]
        std::printf("concurrent: wakes=%ld wakeups=%ld lost=%d\n", wakes, loop_wakeups,
                    lost ? 1 : 0);
        ok &= expect(!lost && loop_wakeups <= wakes, "concurrent",
                     "a wake was lost, or the loop woke more often than it was woken");
    }

    close(epfd);
    return ok ? 0 : 1;
}
