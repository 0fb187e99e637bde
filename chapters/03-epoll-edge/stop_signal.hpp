// stop_signal.hpp: SIGINT and SIGTERM for the mio-style programs, delivered
// the way every other reason to wake up is: through the loop's waker.
//
// While a StopOnSignal lives, either signal sets a flag and wakes the loop;
// the loop reads the flag after epoll_wait reports the waker, never before
// (a flag checked before the wait is the check-then-wait race). SIGPIPE is
// ignored, so a vanished peer is an EPIPE, not a dead program.
#pragma once

#include "log.hpp"
#include "waker.hpp"

#include <csignal>

namespace ioladder::ch03 {

class StopOnSignal {
  public:
    explicit StopOnSignal(Waker& waker) {
        s_waker = &waker; // set before the handler can run
        install(&on_signal);
        std::signal(SIGPIPE, SIG_IGN);
    }
    // Back to the default first: no handler may touch the waker once it is gone.
    ~StopOnSignal() { install(SIG_DFL); }
    StopOnSignal(const StopOnSignal&) = delete;
    StopOnSignal& operator=(const StopOnSignal&) = delete;

    // True once SIGINT or SIGTERM has arrived.
    bool requested() const { return s_stop != 0; }

  private:
    // [snippet: signal-wakes]
    // A signal handler may only call async-signal-safe functions (signal-safety(7)).
    // Setting a sig_atomic_t and wake() (one write(2), errno preserved) qualify.
    static void on_signal(int) {
        s_stop = 1;      // the reason first...
        s_waker->wake(); // ...then the wake, so the loop sees the reason when it wakes
    }
    // [/snippet]

    static void install(void (*handler)(int)) {
        struct sigaction sa {};
        sa.sa_handler = handler;
        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGINT, &sa, nullptr) < 0 || sigaction(SIGTERM, &sa, nullptr) < 0)
            die("sigaction");
    }

    inline static volatile sig_atomic_t s_stop = 0;
    inline static Waker* s_waker = nullptr;
};

} // namespace ioladder::ch03
