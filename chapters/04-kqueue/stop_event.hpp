// stop_event.hpp: SIGINT and SIGTERM, delivered to a kqueue loop as an
// EVFILT_USER event.
//
// kqueue has a wake-up of its own: a user event, which any thread triggers
// with one kevent() call (NOTE_TRIGGER). There is no descriptor to create,
// write or drain, as there was for chapter 03's wakers; the kernel keeps the
// "triggered" state, and with EV_CLEAR the loop gets one event however many
// triggers came before it looked.
//
// A signal handler may not call kevent() (it is not on the list of
// async-signal-safe functions in signal-safety(7); on Linux the teaching
// layer even takes a lock in it). So the signals are blocked in every
// thread, and one small thread takes them with sigwait() and triggers the
// event: the usual way to handle signals in a program with threads.
// The loop sees an event with filter EVFILT_USER and ident kIdent.
#pragma once

#include "log.hpp"

#include <atomic>
#include <csignal>
#include <cstdint>
#include <future>
#include <pthread.h>
#include <sys/event.h>
#include <sys/types.h>
#include <thread>

namespace ioladder::ch04 {

class StopEvent {
  public:
    static constexpr uintptr_t kIdent = 1; // a user event's number is the program's choice

    // [snippet: stop-event]
    explicit StopEvent(int kq) : kq_(kq) {
        sigemptyset(&signals_);
        sigaddset(&signals_, SIGINT);
        sigaddset(&signals_, SIGTERM);
        // Blocked in this thread and so in every thread it starts: only the
        // sigwait() below takes them. SIGPIPE: a vanished peer is an EPIPE.
        if (pthread_sigmask(SIG_BLOCK, &signals_, nullptr) != 0) die("pthread_sigmask");
        std::signal(SIGPIPE, SIG_IGN);
        struct kevent add;
        EV_SET(&add, kIdent, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, nullptr);
        if (kevent(kq, &add, 1, nullptr, 0, nullptr) < 0) die("kevent EV_ADD EVFILT_USER");
        // Started before the caller goes on, so the thread's own start-up
        // calls come before the "listening on" line, not among the echoes.
        std::promise<void> started;
        waiter_ = std::thread([this, &started] {
            started.set_value();
            wait_and_trigger();
        });
        started.get_future().wait();
    }
    // [/snippet]

    ~StopEvent() {
        if (!triggered_) pthread_kill(waiter_.native_handle(), SIGTERM); // let it finish
        waiter_.join();
        // Closing the kqueue would delete the event too; deleting it first
        // lets the Linux layer close the eventfd behind it (see sys/event.h).
        struct kevent del;
        EV_SET(&del, kIdent, EVFILT_USER, EV_DELETE, 0, 0, nullptr);
        kevent(kq_, &del, 1, nullptr, 0, nullptr);
    }
    StopEvent(const StopEvent&) = delete;
    StopEvent& operator=(const StopEvent&) = delete;

  private:
    // [snippet: trigger]
    void wait_and_trigger() {
        int sig = 0;
        while (sigwait(&signals_, &sig) != 0) {
        }
        IOLADDER_LOG("%s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
        triggered_ = true; // before the wake: the loop may end, and join us, at once
        struct kevent wake;
        EV_SET(&wake, kIdent, EVFILT_USER, 0, NOTE_TRIGGER, 0, nullptr);
        if (kevent(kq_, &wake, 1, nullptr, 0, nullptr) < 0) die("kevent NOTE_TRIGGER");
    }
    // [/snippet]

    int kq_;
    sigset_t signals_;
    std::atomic<bool> triggered_{false};
    std::thread waiter_;
};

} // namespace ioladder::ch04
