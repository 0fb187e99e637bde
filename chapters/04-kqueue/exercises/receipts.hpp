// Exercise ch04 receipts: apply a batch of changes, and learn what became of
// each one.
//
// kevent() applies a changelist in order. A change that fails does not make
// the call fail: its answer comes back in the eventlist, flagged EV_ERROR
// with the errno in `data`, and only when there is no room for it does
// kevent() return -1 (kqueue(2), RETURN VALUES). That is how a server's
// loop sees a registration that failed (a connection's EV_ADD hit ENOMEM),
// among the events of the same call. For a batch of changes made on their
// own, say at start-up, or when a program must know that each one took,
// there is EV_RECEIPT. What the chapter prepared you for:
//   - EV_RECEIPT makes every change answer, success (data 0) or not, and a
//     call that has answers to give returns them without collecting events:
//     the events already pending stay for the loop's next kevent();
//   - an answer needs a slot in the eventlist; when none is left, the
//     remaining changes are not processed at all;
//   - the answers come back in the order of the changes; the same filter may
//     appear twice in one batch (added, then deleted).
#pragma once

#include <span>
#include <sys/event.h>
#include <sys/types.h>
#include <vector>

namespace ioladder::ch04 {

// Applies every change in `changes` to the kqueue `kq` with one kevent()
// call, leaving pending events where they are, and returns the result of
// each change, in order: 0, or the errno it failed with. If kevent() itself
// fails (kq is not a kqueue: EBADF), every result is that errno. The
// caller's changes are not modified.
std::vector<int> apply_all(int kq, std::span<const struct kevent> changes);

} // namespace ioladder::ch04
