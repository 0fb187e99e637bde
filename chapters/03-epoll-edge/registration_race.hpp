// registration_race.hpp: two pollers with the same three calls
// (register_fd, wait, close). registration_race.cpp shows the race in one
// deterministic schedule; tests/chapters/registration_race_stress.cpp
// hammers both.
//
//   RacyPoller  shaped like the seed's: register_fd checks an atomic
//               "closed" flag, then calls epoll_ctl, and close() can run
//               between the two; close() wakes nobody in epoll_wait.
//   Poller      fixed: a mutex makes "check, then epoll_ctl" one step;
//               waiters sign in and out under it; close() sets the flag,
//               wakes every waiter through a latch, waits for the last one
//               to sign out, and only then closes the descriptor.
//
// Left out on purpose: deregistration, and a lock-free registration counter
// (an atomic word with the closed bit and a count of registrations in
// progress would do; the mutex is simpler to get right, epoll_ctl is short).
#pragma once

#include "log.hpp"
#include "waker.hpp"

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace ioladder::ch03 {

enum class Result { ok, poll_closed, timed_out, failed };
struct Outcome {
    Result result = Result::failed;
    int error = 0; // the errno when failed
};

inline epoll_event readable(int fd) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    return ev;
}

// A descriptor that is never readable: an eventfd whose counter stays 0.
inline int quiet_fd() {
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0) die("eventfd");
    return fd;
}

// Whether `fd` is in the interest list of `epfd`: EPOLL_CTL_DEL succeeds only then.
inline bool registered_in(int epfd, int fd) {
    return epoll_ctl(epfd, EPOLL_CTL_DEL, fd, nullptr) == 0;
}

// The broken poller: a flag checked, then a descriptor used, with nothing
// keeping the two together.
class RacyPoller {
  public:
    RacyPoller() : epfd_(epoll_create1(EPOLL_CLOEXEC)) {
        if (epfd_ < 0) die("epoll_create1");
    }
    ~RacyPoller() { close(); }
    int epoll_fd() const { return epfd_; }
    std::function<void()> after_check; // demo hook: empty except in the window schedule

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
        // [snippet: latch-register]
        // Level-triggered, unlike the mio programs' wakers: close() wakes it
        // once and nobody ever reads it, so it stays readable and every
        // epoll_wait from then on, in any thread, returns at once. Under
        // EPOLLET that one wake would be one report, for one waiter.
        epoll_event ev = readable(waker_.fd());
        if (epoll_ctl(epfd_, EPOLL_CTL_ADD, waker_.fd(), &ev) < 0) die("epoll_ctl ADD waker");
        // [/snippet]
    }
    ~Poller() { close(); }
    int epoll_fd() const { return epfd_; }
    std::function<void()> after_check; // demo hook: empty except in the window schedule

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
        waker_.wake();  // every waiter's epoll_wait returns, now and later
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

} // namespace ioladder::ch03
