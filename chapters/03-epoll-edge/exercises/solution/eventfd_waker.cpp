// Exercise ch03 eventfd_waker: a reference solution.
#include "eventfd_waker.hpp"

#include <cerrno>
#include <sys/eventfd.h>

namespace ioladder::ch03 {

EventfdWaker::EventfdWaker() {
    fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

void EventfdWaker::wake() {
    int saved = errno; // a signal handler may have interrupted code that reads errno
    const std::uint64_t one = 1;
    // EAGAIN: the counter is at its maximum, so the waker is readable already.
    [[maybe_unused]] ssize_t n = write(fd_, &one, sizeof one);
    errno = saved;
}

std::uint64_t EventfdWaker::reset() {
    std::uint64_t count = 0;
    for (;;) {
        ssize_t n = read(fd_, &count, sizeof count);
        if (n == sizeof count) return count;
        if (n < 0 && errno == EINTR) continue;
        return 0; // EAGAIN: the counter was zero
    }
}

} // namespace ioladder::ch03
