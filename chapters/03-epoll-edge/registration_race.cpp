// registration_race.cpp: one thread closes a poller while another registers
// with it, the race from the seed, shown and fixed.
//
// What it shows
//   - RacyPoller does what the seed's Registrator does: check an atomic
//     "closed" flag, then call epoll_ctl. close() can run between the two.
//     The registration then uses a closed descriptor number: EBADF if the
//     number is still free, or, worse, success on whatever object took the
//     number next (here a new epoll instance), so it lands in the wrong
//     poller and is never delivered where the caller expects. And close()
//     does not wake a thread sleeping in epoll_wait: with no timeout it would
//     sleep forever.
//   - Poller fixes both. A mutex makes "check closed, then epoll_ctl" one
//     step that close() cannot split; close() sets the flag, wakes every
//     waiter through the waker, waits until no thread is inside epoll_wait,
//     and only then closes the descriptor. A registration either succeeds
//     before close() or fails with poll_closed, and no descriptor is used
//     after it is closed.
//   - Two schedules. "window" parks the registrar between the check and the
//     epoll_ctl (a demo hook, after_check) while close() runs: deterministic.
//     "stress" runs many rounds of registrars, a waiter and a closer with no
//     hook and counts what went wrong.
//
// Run it:
//   ./registration_race                          (both pollers, both schedules)
//   ./registration_race --poller locked --schedule stress --iterations 5000
// Exit 1 when the locked Poller misbehaves; the racy one is expected to.
//
// Left out on purpose: deregistration, and a lock-free registration counter
// (the seed's spin "registration lock" is the same idea as the mutex here;
// a mutex is simpler to get right and epoll_ctl is short).
#include "echo_common.hpp"
#include "waker.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <dirent.h>
#include <functional>
#include <latch>
#include <memory>
#include <mutex>
#include <random>
#include <semaphore>
#include <string>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <thread>
#include <type_traits>
#include <vector>

using namespace ioladder;
using ioladder::ch03::Waker;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

enum class Result { ok, poll_closed, timed_out, failed };
struct Outcome {
    Result result = Result::failed;
    int error = 0; // the errno when failed
};

const char* result_name(Result r) {
    switch (r) {
    case Result::ok:
        return "ok";
    case Result::poll_closed:
        return "poll_closed";
    case Result::timed_out:
        return "timed_out";
    case Result::failed:
        return "failed";
    }
    return "?";
}

epoll_event readable(int fd) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    return ev;
}

// The broken poller, shaped like the seed's: a flag checked, then a
// descriptor used, with nothing keeping the two together.
class RacyPoller {
  public:
    RacyPoller() : epfd_(epoll_create1(EPOLL_CLOEXEC)) {
        if (epfd_ < 0) die("epoll_create1");
    }
    ~RacyPoller() { close(); }
    int epoll_fd() const { return epfd_; }
    std::function<void()> after_check; // demo hook: empty except in the "window" schedule

    // [snippet: racy-poller]
    Outcome register_fd(int fd) {
        if (closed_.load()) return {Result::poll_closed};
        if (after_check) after_check(); // <- close() may run here, on another thread
        epoll_event ev = readable(fd);
        if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) < 0) return {Result::failed, errno};
        return {Result::ok}; // ...but on which epoll instance?
    }

    Outcome wait(int timeout_ms) {
        if (closed_.load()) return {Result::poll_closed};
        epoll_event ev[8];
        int n = epoll_wait(epfd_, ev, 8, timeout_ms); // close() will not wake us
        if (n < 0) return {Result::failed, errno};
        return {n == 0 ? Result::timed_out : Result::ok};
    }

    void close() {
        if (!closed_.exchange(true)) ::close(epfd_); // the number is free for reuse now
    }
    // [/snippet]

  private:
    std::atomic<bool> closed_{false};
    const int epfd_;
};

// The fixed poller: the same three calls.
class Poller {
  public:
    Poller() : epfd_(epoll_create1(EPOLL_CLOEXEC)) {
        if (epfd_ < 0) die("epoll_create1");
        epoll_event ev = readable(waker_.fd());
        if (epoll_ctl(epfd_, EPOLL_CTL_ADD, waker_.fd(), &ev) < 0) die("epoll_ctl ADD waker");
    }
    ~Poller() { close(); }
    int epoll_fd() const { return epfd_; }
    std::function<void()> after_check; // demo hook: empty except in the "window" schedule

    // [snippet: locked-register]
    Outcome register_fd(int fd) {
        std::lock_guard lock(mu_); // close() cannot start or finish while we hold it
        if (closed_) return {Result::poll_closed};
        if (after_check) after_check(); // close() on another thread now waits for us
        epoll_event ev = readable(fd);
        if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) < 0) return {Result::failed, errno};
        return {Result::ok}; // on our epoll instance: it is still open
    }
    // [/snippet]

    // [snippet: locked-wait]
    Outcome wait(int timeout_ms) {
        {
            std::lock_guard lock(mu_);
            if (closed_) return {Result::poll_closed};
            ++waiters_; // close() keeps epfd_ open while we are inside
        }
        // Without the lock, so registrations go on while we sleep.
        epoll_event ev[8];
        int n = epoll_wait(epfd_, ev, 8, timeout_ms);
        int err = errno;
        std::lock_guard lock(mu_);
        if (--waiters_ == 0 && closed_) idle_.notify_all();
        if (closed_) return {Result::poll_closed}; // woken by close()
        if (n < 0 && err != EINTR) return {Result::failed, err};
        return {n > 0 ? Result::ok : Result::timed_out}; // EINTR: no events, like a timeout
    }
    // [/snippet]

    // [snippet: locked-close]
    // Returns once the descriptor is closed (at once if already closed).
    void close() {
        std::unique_lock lock(mu_);
        if (closed_) return;
        closed_ = true; // from now on register_fd and wait refuse
        // Wake every thread in epoll_wait. Never reset: the waker stays
        // readable, so a waiter that has not reached epoll_wait yet returns too.
        waker_.wake();
        idle_.wait(lock, [&] { return waiters_ == 0; });
        ::close(epfd_); // nobody is using it, and nobody will
    }
    // [/snippet]

  private:
    std::mutex mu_;
    std::condition_variable idle_;
    bool closed_ = false;
    int waiters_ = 0;
    Waker waker_; // constructed before epfd_ (declaration order), closed after
    const int epfd_;
};

// A descriptor that is never readable: an eventfd whose counter stays 0.
int quiet_fd() {
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0) die("eventfd");
    return fd;
}

// Whether `fd` is in the interest list of `epfd`: EPOLL_CTL_DEL succeeds only then.
bool registered_in(int epfd, int fd) {
    return epoll_ctl(epfd, EPOLL_CTL_DEL, fd, nullptr) == 0;
}

int open_fd_count() {
    DIR* d = opendir("/proc/self/fd");
    if (!d) die("opendir /proc/self/fd");
    int n = 0;
    while (dirent* e = readdir(d))
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; // the directory stream's own descriptor
}

template <typename P>
constexpr const char* poller_name() {
    return std::is_same_v<P, Poller> ? "locked" : "racy";
}

// [snippet: window-schedule]
// The registrar passes the "closed?" check, then parks in after_check while
// this thread closes the poller and opens a new epoll instance, which gets
// the lowest free descriptor number: the one close() just freed.
template <typename P>
bool run_window() {
    P poller;
    const int old_epfd = poller.epoll_fd();
    int fd = quiet_fd();
    std::binary_semaphore in_window{0}, closed{0};
    poller.after_check = [&] {
        in_window.release();
        closed.try_acquire_for(200ms); // Poller: close() is waiting for us, so give up
    };
    Outcome waited, registered;
    double wait_ms = 0;
    std::thread waiter([&] {
        auto t0 = Clock::now();
        waited = poller.wait(2000); // -1 in real code; 2 s so the demo ends
        wait_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    });
    std::this_thread::sleep_for(100ms); // the waiter is asleep in epoll_wait by now
    std::thread registrar([&] { registered = poller.register_fd(fd); });
    in_window.acquire();
    poller.close();
    int other = epoll_create1(EPOLL_CLOEXEC);
    if (other < 0) die("epoll_create1");
    closed.release();
    registrar.join();
    waiter.join();
    bool landed = registered_in(other, fd);
    // [/snippet]
    std::printf("window %s: register=%s%s%s landed_in_new_epoll=%d epoll_fd_reused=%d "
                "waiter=%s waiter_ms=%.0f\n",
                poller_name<P>(), result_name(registered.result), registered.error ? "/" : "",
                registered.error ? strerrorname_np(registered.error) : "", landed ? 1 : 0,
                other == old_epfd ? 1 : 0, result_name(waited.result), wait_ms);
    close(other);
    close(fd);
    // The fixed poller: registered before close (on the old instance), and
    // the waiter woken by close().
    return registered.result == Result::ok && !landed && waited.result == Result::poll_closed;
}

struct Tally {
    long registrations = 0, ok = 0, refused = 0, ebadf = 0, other_errors = 0, misdelivered = 0;
    long waiters_woken = 0, waiters_not_woken = 0, waiter_errors = 0;
};

// Rounds of: `threads` registrars with 4 descriptors each and one waiter,
// released together; this thread closes the poller after a random pause and
// opens a new epoll instance at once, to catch registrations that land in it.
template <typename P>
Tally run_stress(int iterations, int threads, int waiter_timeout_ms) {
    constexpr int kPerThread = 4;
    std::mt19937 rng(20240603);
    Tally t;
    for (int it = 0; it < iterations; ++it) {
        std::vector<int> fds(static_cast<std::size_t>(threads * kPerThread));
        for (int& fd : fds)
            fd = quiet_fd();
        std::vector<Outcome> outcomes(fds.size());
        Outcome waited;
        auto poller = std::make_unique<P>();
        std::latch start(threads + 2);
        std::thread waiter([&] {
            start.arrive_and_wait();
            waited = poller->wait(waiter_timeout_ms);
        });
        std::vector<std::thread> registrars;
        for (int r = 0; r < threads; ++r)
            registrars.emplace_back([&, r] {
                start.arrive_and_wait();
                for (int i = r * kPerThread; i < (r + 1) * kPerThread; ++i)
                    outcomes[static_cast<std::size_t>(i)] =
                        poller->register_fd(fds[static_cast<std::size_t>(i)]);
            });
        start.arrive_and_wait();
        for (auto spin = rng() % 20000; spin > 0; --spin)
            std::atomic_signal_fence(std::memory_order_seq_cst); // a pause of a few µs
        poller->close();
        int other = epoll_create1(EPOLL_CLOEXEC);
        if (other < 0) die("epoll_create1");
        for (auto& r : registrars)
            r.join();
        waiter.join();
        for (std::size_t i = 0; i < fds.size(); ++i) {
            ++t.registrations;
            switch (outcomes[i].result) {
            case Result::ok:
                ++t.ok;
                break;
            case Result::poll_closed:
                ++t.refused;
                break;
            default:
                ++(outcomes[i].error == EBADF ? t.ebadf : t.other_errors);
            }
            t.misdelivered += registered_in(other, fds[i]);
            close(fds[i]);
        }
        if (waited.result == Result::poll_closed)
            ++t.waiters_woken;
        else if (waited.result == Result::timed_out)
            ++t.waiters_not_woken;
        else
            ++t.waiter_errors;
        close(other);
    }
    return t;
}

template <typename P>
bool report_stress(int iterations, int threads, int waiter_timeout_ms) {
    const int fds_before = open_fd_count();
    auto t0 = Clock::now();
    Tally t = run_stress<P>(iterations, threads, waiter_timeout_ms);
    double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    const int leaked = open_fd_count() - fds_before;
    std::printf("stress %s: iterations=%d registrations=%ld ok=%ld refused_closed=%ld ebadf=%ld "
                "other_errors=%ld misdelivered=%ld waiters_woken=%ld waiters_not_woken=%ld "
                "waiter_errors=%ld leaked_fds=%d ms=%.0f\n",
                poller_name<P>(), iterations, t.registrations, t.ok, t.refused, t.ebadf,
                t.other_errors, t.misdelivered, t.waiters_woken, t.waiters_not_woken,
                t.waiter_errors, leaked, ms);
    return t.ok + t.refused == t.registrations && t.misdelivered == 0 && t.waiters_not_woken == 0 &&
           t.waiter_errors == 0 && leaked == 0;
}

[[noreturn]] void usage_exit(int code) {
    std::fprintf(code == 0 ? stdout : stderr,
                 "usage: %s [--poller racy|locked|both] [--schedule window|stress|both]\n"
                 "          [--iterations N] [--threads T] [--help]\n"
                 "Closes a poller while other threads register with it and wait on it.\n"
                 "Defaults: both pollers, both schedules, 200 iterations, 2 registrar threads.\n",
                 g_program);
    std::exit(code);
}

} // namespace

int main(int argc, char** argv) {
    g_program = "registration_race";
    std::string poller = "both", schedule = "both";
    long iterations = 200, threads = 2;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--help" || a == "-h") usage_exit(0);
        if (i + 1 >= argc) usage_exit(2);
        std::string v = argv[++i];
        char* end = nullptr;
        long n = std::strtol(v.c_str(), &end, 10);
        bool number = !v.empty() && *end == '\0';
        if (a == "--poller" && (v == "racy" || v == "locked" || v == "both"))
            poller = v;
        else if (a == "--schedule" && (v == "window" || v == "stress" || v == "both"))
            schedule = v;
        else if (a == "--iterations" && number && n >= 1 && n <= 1000000)
            iterations = n;
        else if (a == "--threads" && number && n >= 1 && n <= 64)
            threads = n;
        else
            usage_exit(2);
    }
    const bool racy = poller != "locked", locked = poller != "racy";
    const bool window = schedule != "stress", stress = schedule != "window";
    bool ok = true;
    // The racy poller's results are the demonstration; only the fixed one is judged.
    if (racy && window) run_window<RacyPoller>();
    if (locked && window) ok &= run_window<Poller>();
    // A racy waiter is never woken by close(), so it waits out its timeout: keep it short.
    if (racy && stress)
        report_stress<RacyPoller>(static_cast<int>(iterations), static_cast<int>(threads), 10);
    if (locked && stress)
        ok &= report_stress<Poller>(static_cast<int>(iterations), static_cast<int>(threads), 5000);
    if (!ok) warn("the locked Poller misbehaved (see above)");
    return ok ? 0 : 1;
}
