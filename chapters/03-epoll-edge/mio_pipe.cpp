// mio_pipe.cpp: wakes that happen while nobody waits, and wakes that pile up,
// the equivalent of the seed's mio-pipe (mio issue #785 asked whether a wake
// written while no thread is in epoll_wait could be lost).
//
// What it shows, in three phases:
//   late        wake() with no thread in epoll_wait; the next epoll_wait still
//               reports it, and again on the call after (level-triggered:
//               the descriptor stays readable) until reset() drains it.
//   coalesced   another thread calls wake() 100000 times while the loop is
//               not looking. The loop then wakes up once, and one reset()
//               drains everything. The self-pipe holds at most its capacity
//               (65536 bytes); the wakes past that got EAGAIN, were ignored,
//               and never blocked. The eventfd just counted to 100000.
//   concurrent  the thread publishes work (an atomic counter) and wakes while
//               the loop waits and resets. The loop drains, then re-reads the
//               counter, and never waits in vain: it sees all 100000 with far
//               fewer wakeups, and none is lost (a lost one would leave it
//               asleep: that is what the 2-second limit would catch).
//
// Run it (built twice, once per waker):
//   ./mio_pipe_selfpipe        ./mio_pipe_eventfd --wakes 1000000
// Exit 0 when every phase behaved as above, 1 (naming the phase) otherwise.
#include "echo_common.hpp"
#include "waker.hpp"

#include <atomic>
#include <chrono>
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
    g_program =
        argc > 0 && std::strrchr(argv[0], '/') ? std::strrchr(argv[0], '/') + 1 : "mio_pipe";
    long wakes = 100000;
    bool args_ok = argc == 1;
    if (argc == 3 && std::strcmp(argv[1], "--wakes") == 0) {
        char* end = nullptr;
        wakes = std::strtol(argv[2], &end, 10);
        args_ok = *argv[2] != '\0' && *end == '\0' && wakes >= 1 && wakes <= 100000000;
    }
    if (!args_ok) {
        bool help = argc == 2 && std::strcmp(argv[1], "--help") == 0;
        std::fprintf(help ? stdout : stderr,
                     "usage: %s [--wakes N] [--help]\n"
                     "Wakes its waker (%s) while nobody waits, N times from another thread\n"
                     "(default 100000), and concurrently; prints what epoll_wait saw.\n",
                     g_program, Waker::kind());
        return help ? 0 : 2;
    }

    Waker waker;
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) die("epoll_create1");
    epoll_event ev{};
    ev.events = EPOLLIN; // level-triggered
    ev.data.fd = waker.fd();
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, waker.fd(), &ev) < 0) die("epoll_ctl ADD waker");
    std::printf("waker=%s fd=%d\n", Waker::kind(), waker.fd());
    bool ok = true;

    // [snippet: late-wake]
    waker.wake(); // nobody is in epoll_wait now
    int first = wait_once(epfd, 1000);
    int second = wait_once(epfd, 0); // not reset yet: reported again
    waker.reset();
    int after = wait_once(epfd, 0);
    // [/snippet]
    std::printf("late: wakes=1 first_wait=%d second_wait=%d after_reset=%d\n", first, second,
                after);
    ok &= expect(first == 1 && second == 1 && after == 0, "late",
                 "a wake while nobody waited was not reported exactly until reset");

    // [snippet: coalesced-wakes]
    auto start = Clock::now();
    std::thread([&] {
        for (long i = 0; i < wakes; ++i)
            waker.wake(); // never blocks, even with a full pipe
    }).join();
    double wake_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    int wakeups = 0;
    std::uint64_t drained = 0;
    while (wait_once(epfd, wakeups == 0 ? 1000 : 0) > 0) {
        ++wakeups;
        drained += waker.reset();
    }
    // [/snippet]
    std::printf("coalesced: wakes=%ld wakeups=%d drained=%llu wake_ms=%.1f\n", wakes, wakeups,
                static_cast<unsigned long long>(drained), wake_ms);
    ok &= expect(wakeups == 1 && drained >= 1, "coalesced",
                 "many wakes before the loop looked were not exactly one wakeup");

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
        ++loop_wakeups;
        waker.reset(); // drain, then re-read the counter at the top
    }
    producer.join();
    // [/snippet]
    std::printf("concurrent: wakes=%ld wakeups=%ld lost=%d\n", wakes, loop_wakeups, lost ? 1 : 0);
    ok &= expect(!lost && loop_wakeups <= wakes, "concurrent",
                 "a wake was lost, or the loop woke more often than it was woken");

    close(epfd);
    return ok ? 0 : 1;
}
