// Reference solution for the edge_waker exercise (see ../edge_waker.hpp).
#include "edge_waker.hpp"

#include <cerrno>
#include <cstdint>
#include <sys/eventfd.h>

namespace ioladder::ch03 {

EdgeWaker::EdgeWaker() {
    fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

void EdgeWaker::wake() {
    // Someone already made the write the loop has not looked at yet: nothing to do.
    if (woken_.exchange(true, std::memory_order_acq_rel)) return;
    const int saved = errno; // a signal handler may have interrupted code that reads errno
    const std::uint64_t one = 1;
    for (;;) {
        if (write(fd_, &one, sizeof one) == sizeof one) break; // the edge
        if (errno == EINTR) continue;
        if (errno != EAGAIN) break; // cannot happen with a valid eventfd
        // The counter is at its maximum: a write would not change it, so it
        // makes no edge. Empty it (the only read this waker ever makes), then
        // write again.
        std::uint64_t drop;
        [[maybe_unused]] ssize_t n = read(fd_, &drop, sizeof drop);
    }
    errno = saved;
}

void EdgeWaker::on_wake(const std::function<void()>& run_work) {
    // Clear first, with an exchange (it reads the value the waker's exchange
    // wrote, so the work it published before waking is visible to run_work).
    // A wake from here on finds the flag clear and writes: a new edge.
    woken_.exchange(false, std::memory_order_acq_rel);
    run_work();
}

} // namespace ioladder::ch03
