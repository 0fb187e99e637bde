// Exercise ch01 poll_pause: hide a slot from poll() without losing it.
// Read poll_pause.hpp first. Grade it: ctest --preset exercises -R "ch01 poll_pause"
#include "poll_pause.hpp"

namespace ioladder::ch01 {

std::size_t PollTable::add([[maybe_unused]] int fd, [[maybe_unused]] short events) {
    // TODO: append a pollfd for fd and return its index. events 0 means the
    // slot starts hidden (see set_events).
    return 0;
}

void PollTable::set_events([[maybe_unused]] std::size_t i, [[maybe_unused]] short events) {
    // TODO: events != 0: the slot watches its descriptor for `events` (and is
    // shown again if it was hidden). events 0: hide the slot so that poll()
    // ignores it entirely. Decide how a hidden slot stores its descriptor:
    // it must be negative for every descriptor, 0 included, and fd() must
    // still be able to give the descriptor back.
    // Limits: no system calls; fds_ is the only state.
}

int PollTable::fd([[maybe_unused]] std::size_t i) const {
    // TODO: the descriptor, whether the slot is hidden or not.
    return -1;
}

bool PollTable::hidden([[maybe_unused]] std::size_t i) const {
    // TODO
    return false;
}

short PollTable::events([[maybe_unused]] std::size_t i) const {
    // TODO: 0 while hidden, else the events it watches.
    return 0;
}

void PollTable::remove([[maybe_unused]] std::size_t i) {
    // TODO: move the last slot into slot i and shrink the array by one.
}

} // namespace ioladder::ch01
