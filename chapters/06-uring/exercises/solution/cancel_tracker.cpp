// Reference solution for the cancel_tracker exercise (see ../cancel_tracker.hpp).
#include "cancel_tracker.hpp"

#include <cerrno>

namespace ioladder::ch06 {

bool CancelTracker::on_cqe(const io_uring_cqe& cqe) {
    Side* side = cqe.user_data == target_.user_data   ? &target_
                 : cqe.user_data == cancel_.user_data ? &cancel_
                                                      : nullptr;
    if (!side) return false; // someone else's
    // A multishot target's CQEs before its last one do not end it.
    if (side == &target_ && (cqe.flags & IORING_CQE_F_MORE)) return false;
    side->over = true;
    side->res = cqe.res;
    // Whichever came second releases the memory.
    return target_.over && cancel_.over;
}

Outcome CancelTracker::outcome() const {
    if (!target_.over || !cancel_.over) return Outcome::pending;
    // The target's CQE decides. The cancel's 0 only says it found the target;
    // -EALREADY and -ENOENT say the target ends (or ended) by itself, with a
    // result that stands, or with -ECANCELED if something stopped it anyway.
    return target_.res == -ECANCELED ? Outcome::cancelled : Outcome::completed;
}

int CancelTracker::result() const {
    return target_.res;
}

int CancelTracker::cancel_result() const {
    return cancel_.res;
}

} // namespace ioladder::ch06
