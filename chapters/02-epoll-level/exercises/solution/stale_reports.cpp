// Reference solution for the stale_reports exercise (see ../stale_reports.hpp).
#include "stale_reports.hpp"

#include <cerrno>
#include <unistd.h>

namespace ioladder::ch02 {

namespace {

// The token: the generation in the high 32 bits, the number in the low 32.
uint64_t token(int fd, uint32_t generation) {
    return (uint64_t{generation} << 32) | static_cast<uint32_t>(fd);
}

} // namespace

int Registry::add(int fd, uint32_t events) {
    if (fd < 0) return EBADF;
    if (static_cast<std::size_t>(fd) >= generation_.size()) generation_.resize(fd + 1, 0);
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = token(fd, generation_[fd]);
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) < 0) return errno;
    return 0;
}

void Registry::close(int fd) {
    // Advance first: from here on no token issued for this connection
    // matches, and the number's next owner gets a new one.
    if (fd >= 0 && static_cast<std::size_t>(fd) < generation_.size()) ++generation_[fd];
    ::close(fd);
}

int Registry::resolve(const epoll_event& report) const {
    const uint64_t t = report.data.u64;
    const int fd = static_cast<int>(static_cast<uint32_t>(t));
    const uint32_t generation = static_cast<uint32_t>(t >> 32);
    if (fd < 0 || static_cast<std::size_t>(fd) >= generation_.size()) return -1;
    return generation_[fd] == generation ? fd : -1;
}

} // namespace ioladder::ch02
