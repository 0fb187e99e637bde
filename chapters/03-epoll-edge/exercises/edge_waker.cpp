// Exercise ch03 edge_waker: an edge-triggered eventfd waker with a flag.
// Read edge_waker.hpp first. Grade it: ctest --preset exercises -R "ch03 edge_waker"
#include "edge_waker.hpp"

#include <cerrno>
#include <cstdint>
#include <sys/eventfd.h>

namespace ioladder::ch03 {

EdgeWaker::EdgeWaker() {
    // TODO: create the eventfd (counter 0) with flags that keep every call on
    // it from sleeping and keep it out of exec()ed programs.
}

void EdgeWaker::wake() {
    // TODO: write 1 to the counter only if no wake since the loop last looked
    // did. Decide what EAGAIN from that write means under EPOLLET, and what
    // must happen then for this wake to make an edge.
    // Limits: async-signal-safe (atomics and write/read only); errno unchanged.
}

void EdgeWaker::on_wake([[maybe_unused]] const std::function<void()>& run_work) {
    // TODO: re-enable the next write and run the work, in the order that
    // loses no wake.
    // Limits: no system call; run_work() exactly once.
}

} // namespace ioladder::ch03
