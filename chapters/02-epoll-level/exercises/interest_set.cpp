// Exercise ch02 interest_set: read interest_set.hpp first.
// Grade it: ctest --preset exercises -R "ch02 interest_set"
#include "interest_set.hpp"

#include <cerrno>
#include <sys/epoll.h>

namespace ioladder::ch02 {

int InterestSet::set([[maybe_unused]] int fd, [[maybe_unused]] uint32_t events) {
    // TODO: look fd up in events_.
    //   - in the set with the same events: return 0, no system call;
    //   - in the set with other events: EPOLL_CTL_MOD;
    //   - not in the set: EPOLL_CTL_ADD, and if that fails with EEXIST, MOD.
    // The epoll_event has events = events and data.fd = fd. On success record
    // events_[fd] = events and return 0; on failure return errno and leave
    // events_ as it was.
    return ENOSYS;
}

int InterestSet::remove([[maybe_unused]] int fd) {
    // TODO: EPOLL_CTL_DEL (the event argument may be nullptr). Success or
    // ENOENT: erase fd from events_ and return 0. Any other errno: return it
    // and keep the entry.
    return ENOSYS;
}

void InterestSet::forget([[maybe_unused]] int fd) {
    // TODO: erase fd from events_. No system call: the kernel already
    // dropped the registration when the last copy of fd was closed.
}

} // namespace ioladder::ch02
