// Exercise ch03 oneshot_rearm: a worker's turn under EPOLLONESHOT.
// Read oneshot_rearm.hpp first. Grade it: ctest --preset exercises -R "ch03 oneshot_rearm"
#include "oneshot_rearm.hpp"

#include <cerrno>
#include <sys/epoll.h>
#include <unistd.h>

namespace ioladder::ch03 {

int worker_turn([[maybe_unused]] int epfd, [[maybe_unused]] std::span<const int> fds,
                [[maybe_unused]] int timeout_ms,
                [[maybe_unused]] const std::function<Next(uint32_t, uint32_t)>& handle) {
    // TODO: wait for one report, let handle() do the work, then hand the
    // connection back (or close it) as the returned Next asks. Decide when
    // the hand-back may happen, and what the registration must hold after it.
    // Limits: one report per turn; never hand back a connection you closed.
    errno = ENOSYS;
    return -1;
}

} // namespace ioladder::ch03
