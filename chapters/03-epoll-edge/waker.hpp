// waker.hpp: a user-space waker in the style of mio: a descriptor the event
// loop registers with epoll like any socket, and that any thread, or a signal
// handler, makes readable by calling wake().
//
// Two files implement this one class, with the same function names, so that
// `diff waker_selfpipe.cpp waker_eventfd.cpp` shows only the mechanism:
//   waker_selfpipe.cpp  a non-blocking pipe: wake() writes one byte
//   waker_eventfd.cpp   an eventfd counter: wake() adds 1
// CMake links each program once with each file (mio_empty_selfpipe,
// mio_empty_eventfd, ...); there is no #ifdef here.
//
// The contract, whichever file is linked:
//   - wake() never blocks, is safe from any thread and from a signal handler,
//     and leaves errno as it found it.
//   - Wakes coalesce: any number of wake() calls before the loop looks make
//     the descriptor readable once; it stays readable (level-triggered) until
//     reset(), even if nobody was in epoll_wait when wake() ran.
//   - reset() drains the descriptor without blocking and returns what it
//     drained (self-pipe: bytes, at most the pipe's capacity; eventfd: the
//     counter, i.e. every wake since the last reset).
// Left out on purpose: the atomic "already woken" flag that skips the system
// call on a repeated wake (see the book: it is an optimisation with a trap).
#pragma once

#include <cstdint>

namespace ioladder::ch03 {

class Waker {
  public:
    Waker(); // exits 1 naming the call if the descriptor cannot be created
    ~Waker();
    Waker(const Waker&) = delete;
    Waker& operator=(const Waker&) = delete;

    // The descriptor to register for EPOLLIN.
    int fd() const { return read_fd_; }
    void wake();
    std::uint64_t reset();
    // "self-pipe" or "eventfd", for the programs' output.
    static const char* kind();

  private:
    int read_fd_ = -1;
    int write_fd_ = -1; // the eventfd waker reads and writes the same descriptor
};

} // namespace ioladder::ch03
