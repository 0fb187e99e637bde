// Exercise ch04 reason_waker: an EVFILT_USER waker with reasons.
// Read reason_waker.hpp first. Grade it: ctest --preset exercises -R "ch04 reason_waker"
#include "reason_waker.hpp"

#include <cerrno>

namespace ioladder::ch04 {

ReasonWaker::ReasonWaker(int kq, uintptr_t ident) : kq_(kq), ident_(ident) {
    // TODO: add the user event. Decide its flags: what must happen to the
    // triggered state, and to the reasons, once the loop has the event?
    error_ = ENOSYS;
}

ReasonWaker::~ReasonWaker() {
    // TODO
}

int ReasonWaker::wake([[maybe_unused]] uint32_t reasons) {
    // TODO: trigger, and give the reasons so that none given by an earlier
    // wake, from this thread or another, is lost.
    return ENOSYS;
}

bool ReasonWaker::mine([[maybe_unused]] const struct kevent& ev) const {
    // TODO
    return false;
}

uint32_t ReasonWaker::reasons([[maybe_unused]] const struct kevent& ev) {
    // TODO
    return 0;
}

} // namespace ioladder::ch04
