// Exercise ch06 cancel_tracker: release an operation's memory only when both
// it and its cancel have reported, and say how it ended.
//
// IORING_OP_ASYNC_CANCEL asks the kernel to stop an operation in flight,
// named by its user_data. The cancel is a request like any other, with a
// CQE of its own, and it races with the operation it aims at (the target).
// So two CQEs come back, in no fixed order, and until the target's last one
// has come, the kernel may still write into the target's buffer or read its
// msghdr: that memory may be released only then. The cancel's CQE says what
// the cancel found (io_uring_prep_cancel(3)):
//
//   0          the target was found and stopped;
//   -ENOENT    nothing in flight has that user_data: the target finished
//              first (its CQE is already in the ring, or on its way);
//   -EALREADY  the target was already running, too far along to be stopped;
//              it will finish by itself, successfully or interrupted.
//
// So there are two results, and a caller needs to know which one to
// believe: a receive that was stopped received nothing, but a receive that
// finished in spite of the cancel holds bytes someone must handle, or an
// error of its own.
//
// A multishot target posts CQEs flagged IORING_CQE_F_MORE as it goes; only
// its CQE without that flag ends it. A loop that uses the tracker passes it
// every CQE it reaps, including CQEs of other operations.
#pragma once

#include <cstdint>
#include <linux/io_uring.h>

namespace ioladder::ch06 {

enum class Outcome {
    pending,   // the kernel still holds the target, or the cancel, or both
    cancelled, // the target was stopped (its last CQE: -ECANCELED)
    completed, // the target finished by itself: result() is its res (bytes, or -errno)
};

class CancelTracker {
  public:
    // target: the user_data of the operation; cancel: the user_data of the
    // IORING_OP_ASYNC_CANCEL submitted for it (a different value).
    CancelTracker(uint64_t target, uint64_t cancel) : target_{target}, cancel_{cancel} {}

    // Takes one CQE. Returns true exactly once: for the CQE after which the
    // kernel holds neither the target nor the cancel, which is the moment the
    // target's memory may be released. Every other call returns false.
    bool on_cqe(const io_uring_cqe& cqe);

    // pending until on_cqe() has returned true; then how the target ended.
    Outcome outcome() const;
    // Once the outcome is known: the res of the target's last CQE, and the
    // res of the cancel's CQE.
    int result() const;
    int cancel_result() const;

  private:
    // The data members are chosen for you: what is known of each operation.
    struct Side {
        uint64_t user_data;
        bool over = false; // its last CQE has come
        int res = 0;       // that CQE's res
    };
    Side target_, cancel_;
};

} // namespace ioladder::ch06
