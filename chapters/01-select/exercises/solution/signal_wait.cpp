// Reference solution for the signal_wait exercise (see ../signal_wait.hpp).
//
// This answer uses pselect(): the signal stays blocked everywhere except
// inside the wait, and pselect() unblocks it and starts waiting in one step.
// A signal sent between the check and the wait is held pending by the
// kernel and delivered the moment pselect() unblocks it, which makes
// pselect() fail with EINTR: the window is gone. (The chapter's shutdown
// pipe closes it another way: the handler makes a descriptor readable, and
// the wait watches that descriptor.)
#include "signal_wait.hpp"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <sys/select.h>

namespace ioladder::ch01 {

namespace {

volatile sig_atomic_t g_caught = 0;
sigset_t g_wait_mask; // the mask to wait with: as before, minus our signal
int g_signal = 0;

void on_signal(int) {
    g_caught = 1; // a sig_atomic_t store: async-signal-safe, leaves errno alone
}

} // namespace

int catch_signal(int sig) {
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, sig);
    // Block first, then install: from here on the signal can only arrive
    // inside pselect(). The old mask (minus sig) is what pselect() waits with.
    if (sigprocmask(SIG_BLOCK, &block, &old) < 0) return errno;
    sigdelset(&old, sig);
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(sig, &sa, nullptr) < 0) return errno;
    g_wait_mask = old;
    g_signal = sig;
    return 0;
}

Woke wait_readable(int fd, int timeout_ms) {
    using Clock = std::chrono::steady_clock;
    const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
        if (g_caught) { // the signal is blocked here, so this check cannot race
            g_caught = 0;
            return Woke::signalled;
        }
        timespec left{};
        if (timeout_ms >= 0) {
            auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - Clock::now());
            if (ns.count() < 0) ns = ns.zero();
            left = {static_cast<time_t>(ns.count() / 1000000000),
                    static_cast<long>(ns.count() % 1000000000)};
        }
        fd_set readable;
        FD_ZERO(&readable);
        FD_SET(fd, &readable);
        int n = pselect(fd + 1, &readable, nullptr, nullptr, timeout_ms >= 0 ? &left : nullptr,
                        &g_wait_mask);
        if (n < 0) {
            if (errno == EINTR) continue; // ours (the check above says) or another one
            return Woke::failed;
        }
        // pselect() delivers the signal only when it fails with EINTR. When a
        // descriptor is ready at once it returns without, and the signal stays
        // pending (blocked): take it here, or a busy socket would hide it forever.
        sigset_t pending;
        if (sigpending(&pending) == 0 && sigismember(&pending, g_signal) == 1) {
            sigset_t ours;
            sigemptyset(&ours);
            sigaddset(&ours, g_signal);
            const timespec now{};
            if (sigtimedwait(&ours, nullptr, &now) == g_signal) g_caught = 1;
        }
        if (g_caught) continue; // report it first: the signal wins
        if (n > 0) return Woke::readable;
        return Woke::timed_out;
    }
}

} // namespace ioladder::ch01
