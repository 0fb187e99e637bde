// Exercise ch06 cancel_tracker: the two CQEs of a cancelled operation.
// Read cancel_tracker.hpp first. Grade it: ctest --preset exercises -R "ch06 cancel_tracker"
#include "cancel_tracker.hpp"

#include <cerrno>

namespace ioladder::ch06 {

bool CancelTracker::on_cqe([[maybe_unused]] const io_uring_cqe& cqe) {
    // TODO: tell the target's CQEs from the cancel's and from anyone else's,
    // record what each says, and decide when the kernel is done with both.
    // Limits: true exactly once, at that CQE; a multishot target's CQEs
    // before its last one do not end it.
    return false;
}

Outcome CancelTracker::outcome() const {
    // TODO: pending until both have reported; then decide from the right one
    // of the two results whether the target was stopped or finished.
    return Outcome::pending;
}

int CancelTracker::result() const {
    // TODO: the target's own result.
    return 0;
}

int CancelTracker::cancel_result() const {
    // TODO: what the cancel reported.
    return 0;
}

} // namespace ioladder::ch06
