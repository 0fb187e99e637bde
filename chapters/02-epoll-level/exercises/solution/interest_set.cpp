// Reference solution for the interest_set exercise (see ../interest_set.hpp).
#include "interest_set.hpp"

#include <cerrno>
#include <sys/epoll.h>

namespace ioladder::ch02 {

int InterestSet::set(int fd, uint32_t events) {
    auto it = events_.find(fd);
    if (it != events_.end() && it->second == events) return 0; // nothing to change
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    int op = it == events_.end() ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
    int rc = epoll_ctl(epfd_, op, fd, &ev);
    // EEXIST: registered, but not through us (or we forgot it). The kernel
    // has it, so change it instead of adding it.
    if (rc < 0 && op == EPOLL_CTL_ADD && errno == EEXIST)
        rc = epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev);
    if (rc < 0) return errno;
    events_[fd] = events;
    return 0;
}

int InterestSet::remove(int fd) {
    // Since Linux 2.6.9 the event argument of DEL may be null.
    if (epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr) < 0 && errno != ENOENT)
        return errno;  // EBADF, ...: the caller decides; we still think it is registered
    events_.erase(fd); // ENOENT: already gone from the kernel, so gone from the mirror
    return 0;
}

void InterestSet::forget(int fd) {
    events_.erase(fd);
}

} // namespace ioladder::ch02
