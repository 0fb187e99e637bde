// Exercise ch04 changelist: turn what connections want into the changes for
// the next kevent(), as few as will do.
//
// A kqueue loop does not call the kernel when a connection starts or stops
// wanting to read or to write: it writes the change down, and the next
// kevent() carries it in its changelist. Between two waits a connection may
// change its mind more than once, and the kernel should see only the result.
// What the chapter prepared you for:
//   - kqueue has no "modify": EVFILT_READ and EVFILT_WRITE are added
//     (EV_ADD) and deleted (EV_DELETE) one by one;
//   - EV_DELETE of a filter the kernel does not have fails with ENOENT, and
//     EV_ADD of one it has changes nothing but its udata ("re-adding an
//     existing event will modify the parameters", kqueue(2));
//   - close() deletes a descriptor's filters in the kernel, and accept() may
//     hand the number to a new connection before the next wait.
#pragma once

#include <cstdint>
#include <map>
#include <sys/event.h>
#include <sys/types.h>
#include <utility>
#include <vector>

namespace ioladder::ch04 {

class Changelist {
  public:
    // From now on the connection on `fd` wants `filter` (EVFILT_READ or
    // EVFILT_WRITE) on or off. A filter is added level-triggered (flags
    // EV_ADD, nothing else) with `udata`; a filter the kernel already has
    // with another udata is added again, to change it.
    void want(int fd, short filter, bool on, void* udata = nullptr);

    // `fd` is about to be closed. Nothing about it may reach the kernel any
    // more, and a later want() for the same number is about a new descriptor.
    void closing(int fd);

    // The changes for the next kevent(): at most one per (fd, filter), none
    // that would change nothing or fail. From then on they count as applied.
    std::vector<struct kevent> take();

    // Whether the kernel has (fd, filter) once the changes taken so far are applied.
    bool registered(int fd, short filter) const;

  private:
    struct Filter {
        bool wanted = false;          // what the connection asked for last
        void* udata = nullptr;        // with that
        bool in_kernel = false;       // what the changes taken so far gave the kernel
        void* kernel_udata = nullptr; // with that
    };
    std::map<std::pair<int, short>, Filter> filters_;
};

} // namespace ioladder::ch04
