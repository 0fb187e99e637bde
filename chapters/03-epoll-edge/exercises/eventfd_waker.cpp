// Exercise ch03 eventfd_waker: a waker on an eventfd, with coalescing.
// Read eventfd_waker.hpp first. Grade it: ctest --preset exercises -R eventfd_waker
#include "eventfd_waker.hpp"

#include <cerrno>
#include <sys/eventfd.h>

namespace ioladder::ch03 {

EventfdWaker::EventfdWaker() {
    // TODO: create the eventfd with eventfd(2) and store it in fd_: initial
    // counter 0, non-blocking (so wake() and reset() never sleep) and
    // close-on-exec. Leave fd_ at -1 if the call fails.
}

void EventfdWaker::wake() {
    // TODO: add 1 to the counter: write(2) exactly 8 bytes holding a
    // std::uint64_t 1. The only error to expect is EAGAIN (the counter is at
    // its maximum, so the waker is readable already: fine, ignore it). This
    // may run inside a signal handler: call nothing but write(2), and put
    // errno back the way you found it.
}

std::uint64_t EventfdWaker::reset() {
    // TODO: read(2) exactly 8 bytes into a std::uint64_t and return it (the
    // number of wakes since the last reset). EINTR: read again. EAGAIN (the
    // counter is 0, nobody woke us): return 0.
    return 0;
}

} // namespace ioladder::ch03
