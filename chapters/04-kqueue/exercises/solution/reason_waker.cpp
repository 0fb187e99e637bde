// Reference solution for the reason_waker exercise (see ../reason_waker.hpp).
#include "reason_waker.hpp"

#include <cerrno>

namespace ioladder::ch04 {

ReasonWaker::ReasonWaker(int kq, uintptr_t ident) : kq_(kq), ident_(ident) {
    // EV_CLEAR: once the loop has the event, it is no longer triggered and
    // its user flags are back to 0. Without it every later kevent() would
    // report it again, with the old reasons.
    struct kevent add;
    EV_SET(&add, ident_, EVFILT_USER, EV_ADD | EV_CLEAR, NOTE_FFNOP, 0, nullptr);
    if (kevent(kq_, &add, 1, nullptr, 0, nullptr) < 0) error_ = errno;
}

ReasonWaker::~ReasonWaker() {
    struct kevent del;
    EV_SET(&del, ident_, EVFILT_USER, EV_DELETE, 0, 0, nullptr);
    kevent(kq_, &del, 1, nullptr, 0, nullptr);
}

int ReasonWaker::wake(uint32_t reasons) {
    // NOTE_FFOR adds the bits to those already there, in the kernel, so two
    // wakes before the loop looks give the union. NOTE_FFCOPY would keep only
    // the last one's.
    struct kevent trigger;
    EV_SET(&trigger, ident_, EVFILT_USER, 0, NOTE_TRIGGER | NOTE_FFOR | (reasons & NOTE_FFLAGSMASK),
           0, nullptr);
    return kevent(kq_, &trigger, 1, nullptr, 0, nullptr) < 0 ? errno : 0;
}

bool ReasonWaker::mine(const struct kevent& ev) const {
    return ev.filter == EVFILT_USER && ev.ident == ident_;
}

uint32_t ReasonWaker::reasons(const struct kevent& ev) {
    return ev.fflags & NOTE_FFLAGSMASK;
}

} // namespace ioladder::ch04
