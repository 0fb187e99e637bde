// Reference solution for the epollout_toggle exercise (see ../epollout_toggle.hpp).
#include "epollout_toggle.hpp"

#include <cerrno>
#include <sys/epoll.h>

namespace ioladder::ch02 {

uint32_t wanted_events(const ConnState& s) {
    uint32_t events = 0;
    // EOF seen: nothing more will come, and a socket at EOF stays readable,
    // so asking would be reported on every wait. Full: backpressure.
    if (!s.peer_closed && s.pending < s.capacity) events |= EPOLLIN;
    if (s.pending > 0) events |= EPOLLOUT; // only while there is something to send
    return events;
}

Apply apply_interest(Registration& r, uint32_t wanted) {
    if (wanted == r.registered) return Apply::unchanged; // the common case: no system call
    epoll_event ev{};
    ev.events = wanted;
    ev.data.fd = r.fd;
    if (epoll_ctl(r.epfd, EPOLL_CTL_MOD, r.fd, &ev) < 0) return Apply::failed; // errno kept
    r.registered = wanted;
    return Apply::modified;
}

} // namespace ioladder::ch02
