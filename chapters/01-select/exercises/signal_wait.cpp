// Exercise ch01 signal_wait: a wait that a signal always ends.
// Read signal_wait.hpp first. Grade it: ctest --preset exercises -R "ch01 signal_wait"
#include "signal_wait.hpp"

#include <cerrno>
#include <csignal>
#include <sys/select.h>
#include <unistd.h>

namespace ioladder::ch01 {

int catch_signal([[maybe_unused]] int sig) {
    // TODO: install a handler for `sig` with sigaction(2) and set up what your
    // wait needs, so that no arrival of the signal can go unnoticed.
    // Limits: the handler calls only async-signal-safe functions and leaves
    // errno as it found it; no threads.
    return ENOSYS;
}

Woke wait_readable([[maybe_unused]] int fd, [[maybe_unused]] int timeout_ms) {
    // TODO: wait with select() or pselect() (poll() and ppoll() are fine too)
    // so that the signal ends the wait whenever it arrives, and report it once.
    // Limits: return only for the reasons in the header.
    errno = ENOSYS;
    return Woke::failed;
}

} // namespace ioladder::ch01
