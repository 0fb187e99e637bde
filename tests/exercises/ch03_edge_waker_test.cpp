// Grades the ch03 edge_waker exercise (chapters/03-epoll-edge/exercises/edge_waker.hpp):
// the waker registered EPOLLIN | EPOLLET with a real epoll instance. The
// eventfd's counter is read from /proc/self/fdinfo (proc(5)), which shows it
// without resetting it, so the tests see how many writes the wakes made and
// whether anything read it.
#include "catch_compat.hpp"
#include "edge_waker.hpp"
#include "support.hpp"

#include <atomic>
#include <csignal>
#include <cstdint>
#include <fstream>
#include <pthread.h>
#include <sys/epoll.h>
#include <thread>
#include <vector>

using namespace ioladder::test;
using ioladder::ch03::EdgeWaker;

namespace {

// The largest value an eventfd counter can hold (eventfd(2)).
constexpr std::uint64_t kMaxCounter = 0xfffffffffffffffeULL;

// Checked first by every case, so a waker whose calls could block fails an
// assertion instead of hanging the test.
void require_usable(const EdgeWaker& w) {
    INFO("fd() is " << w.fd());
    REQUIRE(w.fd() >= 0);
    int fl = ::fcntl(w.fd(), F_GETFL);
    int fd_flags = ::fcntl(w.fd(), F_GETFD);
    REQUIRE(fl != -1);
    INFO("O_NONBLOCK: nothing here may ever sleep");
    REQUIRE((fl & O_NONBLOCK) != 0);
    INFO("FD_CLOEXEC: the waker must not leak into programs we exec");
    REQUIRE((fd_flags & FD_CLOEXEC) != 0);
}

// The eventfd's counter, read from fdinfo: "eventfd-count: <hex>".
std::uint64_t counter(const EdgeWaker& w) {
    std::ifstream in("/proc/self/fdinfo/" + std::to_string(w.fd()));
    std::string key;
    while (in >> key) {
        if (key == "eventfd-count:") {
            std::uint64_t v = 0;
            in >> std::hex >> v;
            return v;
        }
    }
    throw std::runtime_error("no eventfd-count in fdinfo: is fd() an eventfd?");
}

// An epoll instance with the waker registered edge-triggered.
Fd epoll_with(const EdgeWaker& w) {
    Fd ep(::epoll_create1(EPOLL_CLOEXEC));
    if (ep.get() < 0) fail_errno("epoll_create1");
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLET;
    ev.data.fd = w.fd();
    if (::epoll_ctl(ep.get(), EPOLL_CTL_ADD, w.fd(), &ev) < 0) fail_errno("epoll_ctl ADD");
    return ep;
}

// How many events one epoll_wait reports (EINTR: asked again).
int edges(int epfd, int timeout_ms) {
    epoll_event ev[8];
    for (;;) {
        int n = ::epoll_wait(epfd, ev, 8, timeout_ms);
        if (n >= 0) return n;
        if (errno != EINTR) fail_errno("epoll_wait");
    }
}

void wake(EdgeWaker& w) {
    STEP("wake()");
    w.wake();
}

void on_wake(EdgeWaker& w, const std::function<void()>& work) {
    STEP("on_wake()");
    w.on_wake(work);
}

EdgeWaker* g_waker = nullptr;
std::atomic<int> g_handled{0};

void wake_from_handler(int) {
    g_waker->wake();
    g_handled.fetch_add(1);
}

} // namespace

TEST_CASE("a new edge waker is non-blocking, close-on-exec and silent", "[exercise][ch03]") {
    EdgeWaker w;
    require_usable(w);
    Fd ep = epoll_with(w);
    CHECK(edges(ep.get(), 0) == 0);
    CHECK(counter(w) == 0);
}

TEST_CASE("the first wake makes one edge and later wakes before the loop looks write nothing",
          "[exercise][ch03]") {
    EdgeWaker w;
    require_usable(w);
    Fd ep = epoll_with(w);
    wake(w);
    wake(w);
    wake(w);
    INFO("the flag saves the second and third write");
    CHECK(counter(w) == 1);
    CHECK(edges(ep.get(), 1000) == 1);
    CHECK(edges(ep.get(), 0) == 0); // edge-triggered: reported once
}

TEST_CASE("the loop reads nothing back, and runs its work once per report", "[exercise][ch03]") {
    EdgeWaker w;
    require_usable(w);
    Fd ep = epoll_with(w);
    wake(w);
    REQUIRE(edges(ep.get(), 1000) == 1);
    int runs = 0;
    on_wake(w, [&] { ++runs; });
    CHECK(runs == 1);
    INFO("under EPOLLET the report is the message: a read would be one more system call");
    CHECK(counter(w) == 1);
}

TEST_CASE("a wake after the loop looked makes a new edge", "[exercise][ch03]") {
    EdgeWaker w;
    require_usable(w);
    Fd ep = epoll_with(w);
    for (int round = 1; round <= 3; ++round) {
        wake(w);
        CHECK(edges(ep.get(), 1000) == 1);
        on_wake(w, [] {});
        CHECK(counter(w) == static_cast<std::uint64_t>(round));
    }
}

TEST_CASE("a wake that comes while the loop takes its work is not lost", "[exercise][ch03]") {
    EdgeWaker w;
    require_usable(w);
    Fd ep = epoll_with(w);
    wake(w);
    REQUIRE(edges(ep.get(), 1000) == 1);
    // A producer queues work and wakes just as the loop takes the queue.
    on_wake(w, [&] { w.wake(); });
    INFO("clear the flag before taking the work, or this wake is skipped and then cleared");
    CHECK(edges(ep.get(), 0) == 1);
}

TEST_CASE("with the counter at its maximum a wake empties it and still makes an edge",
          "[exercise][ch03]") {
    EdgeWaker w;
    require_usable(w);
    Fd ep = epoll_with(w);
    const std::uint64_t full = kMaxCounter;
    REQUIRE(::write(w.fd(), &full, sizeof full) == static_cast<ssize_t>(sizeof full));
    REQUIRE(edges(ep.get(), 1000) == 1); // the loop saw that one
    REQUIRE(counter(w) == kMaxCounter);
    // A write of 1 now fails with EAGAIN and changes nothing: no edge.
    errno = EDOM;
    wake(w);
    CHECK(errno == EDOM); // as a signal handler must
    CHECK(edges(ep.get(), 0) == 1);
    CHECK(counter(w) == 1);
}

TEST_CASE("a wake from a signal handler that interrupts the loop's wait is seen",
          "[exercise][ch03]") {
    EdgeWaker w;
    require_usable(w);
    Fd ep = epoll_with(w);
    g_waker = &w;
    g_handled = 0;
    struct sigaction sa {
    }, old{};
    sa.sa_handler = wake_from_handler;
    sigemptyset(&sa.sa_mask);
    REQUIRE(::sigaction(SIGUSR1, &sa, &old) == 0);
    const pthread_t loop = ::pthread_self();
    std::thread signaller([loop] {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        ::pthread_kill(loop, SIGUSR1);
    });
    auto start = Clock::now();
    STEP("epoll_wait until the handler's wake");
    int reported = 0;
    for (int i = 0; i < 2 && reported == 0; ++i) { // EINTR first, then the edge
        epoll_event ev[2];
        int n = ::epoll_wait(ep.get(), ev, 2, 3000);
        if (n > 0) reported = n;
    }
    auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    signaller.join();
    ::sigaction(SIGUSR1, &old, nullptr);
    g_waker = nullptr;
    REQUIRE(g_handled.load() == 1);
    INFO("the loop waited " << waited.count() << " ms");
    CHECK(reported == 1);
    CHECK(waited.count() < 2500);
}

TEST_CASE("four producers and a loop thread lose no wake", "[exercise][ch03]") {
    EdgeWaker w;
    require_usable(w);
    Fd ep = epoll_with(w);
    constexpr long kPerProducer = 20000, kTotal = 4 * kPerProducer;
    std::atomic<long> queued{0};
    long taken = 0;
    int reports = 0;
    bool stalled = false;
    std::thread loop([&] {
        while (taken < kTotal) {
            epoll_event ev[2];
            int n = ::epoll_wait(ep.get(), ev, 2, 2000);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) { // two seconds with work queued and no report: a wake was lost
                stalled = queued.load() > 0;
                if (!stalled) continue;
                return;
            }
            ++reports;
            w.on_wake([&] { taken += queued.exchange(0); });
        }
    });
    STEP("four producers queueing and waking");
    std::vector<std::thread> producers;
    for (int p = 0; p < 4; ++p)
        producers.emplace_back([&] {
            for (long i = 0; i < kPerProducer; ++i) {
                queued.fetch_add(1);
                w.wake();
            }
        });
    for (auto& p : producers)
        p.join();
    loop.join();
    INFO(reports << " reports for " << kTotal << " wakes");
    CHECK_FALSE(stalled);
    CHECK(taken == kTotal);
    CHECK(reports <= kTotal);
}
