// changelist.hpp: the changes a kqueue loop makes between two waits, handed
// to the kernel together with the next wait.
//
// kevent() takes a list of changes and returns a list of events, in one
// system call. So a loop need not call anything to add or delete a filter
// when it decides to: it writes the change down here, and the next wait
// carries it. On macOS and FreeBSD interest changes cost no system call of
// their own; on Linux the teaching layer turns each into (at most) one
// epoll_ctl inside that kevent().
//
// A change names a descriptor by number. Between writing it down and the
// wait, the descriptor may be closed and its number handed to a new
// connection by accept(); the change would then land on the wrong socket,
// with a udata that points at a connection already freed. So closing a
// descriptor must also forget its pending changes (forget()).
#pragma once

#include "log.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <span>
#include <sys/event.h>
#include <sys/types.h>
#include <vector>

namespace ioladder::ch04 {

class ChangeList {
  public:
    // [snippet: add]
    void add(uintptr_t ident, short filter, unsigned short flags, void* udata = nullptr,
             unsigned fflags = 0, int64_t data = 0) {
        struct kevent c;
        EV_SET(&c, ident, filter, flags, fflags, data, udata);
        changes_.push_back(c);
    }
    // A descriptor is being closed: close() removes its filters from the
    // kqueue, and a change still pending here must not reach a new socket
    // that gets the same number.
    void forget(int fd) {
        std::erase_if(changes_, [fd](const struct kevent& c) {
            return c.ident == static_cast<uintptr_t>(fd) &&
                   (c.filter == EVFILT_READ || c.filter == EVFILT_WRITE);
        });
    }
    // [/snippet]

    // [snippet: wait]
    // One kevent(): the pending changes go in, up to events.size() events
    // come out, waiting at most `timeout` (nullptr: until something happens).
    // A change that failed comes back as an event with EV_ERROR and the errno
    // in `data`; then kevent() returns at once, with only those. Returns the
    // number of events; 0 when a signal interrupted the wait (EINTR).
    int wait(int kq, std::span<struct kevent> events, const struct timespec* timeout) {
        int n = kevent(kq, changes_.data(), static_cast<int>(changes_.size()), events.data(),
                       static_cast<int>(events.size()), timeout);
        if (n < 0 && errno != EINTR) die("kevent");
        changes_.clear(); // applied, even when interrupted (kqueue(2), ERRORS: EINTR)
        return std::max(n, 0);
    }
    // [/snippet]

  private:
    std::vector<struct kevent> changes_;
};

} // namespace ioladder::ch04
