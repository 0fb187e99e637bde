// Grades the ch03 eventfd_waker exercise (chapters/03-epoll-edge/exercises/eventfd_waker.hpp):
// the waker registered with a real epoll instance, woken from this thread,
// from other threads, from a signal handler, and with its counter at the top.
#include "catch_compat.hpp"
#include "eventfd_waker.hpp"
#include "support.hpp"

#include <atomic>
#include <csignal>
#include <cstdint>
#include <fcntl.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <thread>
#include <vector>

using namespace ioladder::test;
using ioladder::ch03::EventfdWaker;

namespace {

// The largest value an eventfd counter can hold (eventfd(2)).
constexpr std::uint64_t kMaxCounter = 0xfffffffffffffffeULL;

// Checked first by every case, so a waker whose calls could block fails an
// assertion instead of hanging the test.
void require_usable(const EventfdWaker& w) {
    INFO("fd() is " << w.fd());
    REQUIRE(w.fd() >= 0);
    int fl = ::fcntl(w.fd(), F_GETFL);
    int fd_flags = ::fcntl(w.fd(), F_GETFD);
    REQUIRE(fl != -1);
    INFO("O_NONBLOCK: wake() and reset() must never sleep");
    REQUIRE((fl & O_NONBLOCK) != 0);
    INFO("FD_CLOEXEC: the waker must not leak into programs we exec");
    REQUIRE((fd_flags & FD_CLOEXEC) != 0);
}

// An epoll instance with the waker registered, level-triggered.
Fd epoll_with(const EventfdWaker& w) {
    Fd ep(::epoll_create1(EPOLL_CLOEXEC));
    if (ep.get() < 0) fail_errno("epoll_create1");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = w.fd();
    if (::epoll_ctl(ep.get(), EPOLL_CTL_ADD, w.fd(), &ev) < 0) fail_errno("epoll_ctl ADD");
    return ep;
}

// How many events one epoll_wait reports (EINTR: asked again).
int events_reported(int epfd, int timeout_ms) {
    epoll_event ev[8];
    for (;;) {
        int n = ::epoll_wait(epfd, ev, 8, timeout_ms);
        if (n >= 0) return n;
        if (errno != EINTR) fail_errno("epoll_wait");
    }
}

EventfdWaker* g_waker = nullptr;
std::atomic<int> g_handled{0};

void wake_from_handler(int) {
    g_waker->wake();
    g_handled.fetch_add(1);
}

} // namespace

TEST_CASE("a new eventfd waker is non-blocking, close-on-exec and not readable",
          "[exercise][ch03]") {
    EventfdWaker w;
    require_usable(w);
    Fd ep = epoll_with(w);
    CHECK(events_reported(ep.get(), 0) == 0);
    CHECK(w.reset() == 0); // nothing to drain, and it did not block
}

TEST_CASE("two wakes before the loop looks are one readable event, and reset drains both",
          "[exercise][ch03]") {
    EventfdWaker w;
    require_usable(w);
    Fd ep = epoll_with(w);
    w.wake();
    w.wake();
    CHECK(events_reported(ep.get(), 1000) == 1);
    // Level-triggered: still readable, because nobody reset it.
    CHECK(events_reported(ep.get(), 0) == 1);
    CHECK(w.reset() == 2);
    CHECK(events_reported(ep.get(), 0) == 0);
    CHECK(w.reset() == 0);
}

TEST_CASE("a wake from a signal handler that interrupts the loop is seen", "[exercise][ch03]") {
    EventfdWaker w;
    require_usable(w);
    Fd ep = epoll_with(w);
    g_waker = &w;
    g_handled = 0;
    struct sigaction sa {
    }, old{};
    sa.sa_handler = wake_from_handler;
    sigemptyset(&sa.sa_mask);
    REQUIRE(::sigaction(SIGUSR1, &sa, &old) == 0);

    // The signal arrives while this thread sleeps in epoll_wait: the handler
    // runs here, epoll_wait fails with EINTR, and the loop waits again, now
    // with the waker readable.
    const pthread_t loop = ::pthread_self();
    std::thread signaller([loop] {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        ::pthread_kill(loop, SIGUSR1);
    });
    auto start = Clock::now();
    int reported = events_reported(ep.get(), 3000);
    auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    signaller.join();
    ::sigaction(SIGUSR1, &old, nullptr);
    g_waker = nullptr;

    REQUIRE(g_handled.load() == 1);
    INFO("epoll_wait returned after " << waited.count() << " ms");
    CHECK(reported == 1);
    CHECK(waited.count() < 2500); // woken by the handler's wake, not by the timeout
    CHECK(w.reset() == 1);
}

TEST_CASE("4000 wakes from four threads at once are one readable event and one reset",
          "[exercise][ch03]") {
    EventfdWaker w;
    require_usable(w);
    Fd ep = epoll_with(w);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&w] {
            for (int i = 0; i < 1000; ++i)
                w.wake();
        });
    for (auto& t : threads)
        t.join();
    CHECK(events_reported(ep.get(), 1000) == 1);
    CHECK(w.reset() == 4000); // not one lost, not one counted twice
    CHECK(events_reported(ep.get(), 0) == 0);
}

TEST_CASE("wake never blocks and leaves errno alone, even with the counter at its maximum",
          "[exercise][ch03]") {
    EventfdWaker w;
    require_usable(w); // non-blocking, so the wake below cannot hang the test
    Fd ep = epoll_with(w);
    w.wake(); // counter 1
    const std::uint64_t rest = kMaxCounter - 1;
    REQUIRE(::write(w.fd(), &rest, sizeof rest) == static_cast<ssize_t>(sizeof rest));
    // The counter is full: this write(2) fails with EAGAIN, and wake() must
    // swallow it and put errno back, as a signal handler has to.
    errno = EDOM;
    w.wake();
    CHECK(errno == EDOM);
    CHECK(events_reported(ep.get(), 0) == 1);
    CHECK(w.reset() == kMaxCounter);
    CHECK(w.reset() == 0);
    // And it works again afterwards.
    w.wake();
    CHECK(w.reset() == 1);
}
