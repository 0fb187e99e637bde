// Exercise ch04 changelist: the changes for the next kevent().
// Read changelist.hpp first. Grade it: ctest --preset exercises -R "ch04 changelist"
#include "changelist.hpp"

namespace ioladder::ch04 {

void Changelist::want([[maybe_unused]] int fd, [[maybe_unused]] short filter,
                      [[maybe_unused]] bool on, [[maybe_unused]] void* udata) {
    // TODO: remember what the connection wants now. Decide what to keep, so
    // that take() can tell a real change from a change of mind.
}

void Changelist::closing([[maybe_unused]] int fd) {
    // TODO: the kernel drops the filters itself on close(). Decide what this
    // means for the changes not taken yet, and for what you think it has.
}

std::vector<struct kevent> Changelist::take() {
    // TODO: one change per (fd, filter) whose wanted state differs from the
    // kernel's, and none that kevent() would answer with ENOENT.
    return {};
}

bool Changelist::registered([[maybe_unused]] int fd, [[maybe_unused]] short filter) const {
    // TODO
    return false;
}

} // namespace ioladder::ch04
