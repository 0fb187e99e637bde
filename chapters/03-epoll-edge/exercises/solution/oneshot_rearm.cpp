// Reference solution for the oneshot_rearm exercise (see ../oneshot_rearm.hpp).
#include "oneshot_rearm.hpp"

#include <cerrno>
#include <sys/epoll.h>
#include <unistd.h>

namespace ioladder::ch03 {

int worker_turn(int epfd, std::span<const int> fds, int timeout_ms,
                const std::function<Next(uint32_t, uint32_t)>& handle) {
    epoll_event ev{};
    int n = epoll_wait(epfd, &ev, 1, timeout_ms); // one report: one connection per turn
    if (n < 0) return errno == EINTR ? 0 : -1;
    if (n == 0) return 0;
    const uint64_t index = ev.data.u64;
    const int fd = fds[index];
    // The registration is disabled now: this thread owns the connection
    // until the MOD below, and handle() needs no lock for it.
    Next next = handle(static_cast<uint32_t>(index), ev.events);
    if (next == Next::close) {
        close(fd); // the last copy: the kernel drops the registration with it
        return 1;
    }
    // Re-arm last. A MOD replaces events and data, so both are given again;
    // it also checks the socket now, so what arrived meanwhile is reported.
    epoll_event again{};
    again.events = EPOLLONESHOT;
    if (next != Next::write) again.events |= EPOLLIN;
    if (next != Next::read) again.events |= EPOLLOUT;
    again.data.u64 = index;
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &again) < 0) return -1;
    return 1;
}

} // namespace ioladder::ch03
