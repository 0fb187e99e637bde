// Exercise ch04 reason_waker: a kqueue waker that also says why it woke.
//
// The chapter's servers stop through an EVFILT_USER event: another thread
// triggers it with one kevent() call, and the loop's kevent() returns it.
// A loop usually needs to know why it was woken (a timer thread ticked, a
// worker finished, shutdown was asked for), and with several reasons at
// once. An EVFILT_USER event carries 24 bits of the caller's own in
// `fflags`, which every trigger may combine with what is already there.
// What the chapter prepared you for:
//   - NOTE_TRIGGER triggers the event; the control bits NOTE_FFNOP,
//     NOTE_FFAND, NOTE_FFOR and NOTE_FFCOPY say what to do with the lower 24
//     bits (NOTE_FFLAGSMASK) given with it (kqueue(2), EVFILT_USER);
//   - triggers before the loop looks coalesce into one event;
//   - without EV_CLEAR a user event stays triggered once triggered, and is
//     reported by every kevent(); with it, the state is reset when the event
//     is retrieved, the user flags included;
//   - kevent() may be called from any thread, a signal handler excepted.
#pragma once

#include <cstdint>
#include <sys/event.h>
#include <sys/types.h>

namespace ioladder::ch04 {

class ReasonWaker {
  public:
    // Adds the user event `ident` to `kq`, not triggered. error() says
    // whether that worked.
    ReasonWaker(int kq, uintptr_t ident);
    // Deletes the user event.
    ~ReasonWaker();
    ReasonWaker(const ReasonWaker&) = delete;
    ReasonWaker& operator=(const ReasonWaker&) = delete;

    // 0, or the errno of the constructor's kevent().
    int error() const { return error_; }
    int kq() const { return kq_; }
    uintptr_t ident() const { return ident_; }

    // Wakes the loop, from any thread, adding `reasons` (bits within
    // NOTE_FFLAGSMASK; 0 is allowed) to those the loop will see. Wakes that
    // come before the loop looks give one event, with every reason any of
    // them gave; after the loop has it, the next event carries only what was
    // given since. Returns 0, or the errno of kevent().
    int wake(uint32_t reasons);

    // Whether the loop's event `ev` is this waker's.
    bool mine(const struct kevent& ev) const;
    // The reasons `ev` carries (call it for an event that is mine()).
    static uint32_t reasons(const struct kevent& ev);

  private:
    int kq_;
    uintptr_t ident_;
    int error_ = 0;
};

} // namespace ioladder::ch04
