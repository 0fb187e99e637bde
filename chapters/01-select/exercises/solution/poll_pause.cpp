// Reference solution for the poll_pause exercise (see ../poll_pause.hpp).
#include "poll_pause.hpp"

namespace ioladder::ch01 {

namespace {

// ~fd is -fd - 1: negative for every descriptor, 0 included (~0 == -1),
// and its own inverse. -fd would leave descriptor 0 watched.
int hide(int fd) {
    return fd < 0 ? fd : ~fd;
}
int reveal(int fd) {
    return fd < 0 ? ~fd : fd;
}

} // namespace

std::size_t PollTable::add(int fd, short events) {
    fds_.push_back({fd, events, 0});
    if (events == 0) set_events(fds_.size() - 1, 0);
    return fds_.size() - 1;
}

void PollTable::set_events(std::size_t i, short events) {
    pollfd& p = fds_[i];
    // events = 0 alone is not silence: POLLHUP, POLLERR and POLLNVAL come
    // unasked. A negative fd is skipped by the kernel, revents set to 0.
    p.fd = events == 0 ? hide(p.fd) : reveal(p.fd);
    p.events = events;
    p.revents = 0;
}

int PollTable::fd(std::size_t i) const {
    return reveal(fds_[i].fd);
}

bool PollTable::hidden(std::size_t i) const {
    return fds_[i].fd < 0;
}

short PollTable::events(std::size_t i) const {
    return hidden(i) ? 0 : fds_[i].events;
}

void PollTable::remove(std::size_t i) {
    fds_[i] = fds_.back();
    fds_.pop_back();
}

} // namespace ioladder::ch01
