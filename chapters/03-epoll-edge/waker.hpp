// waker.hpp: a user-space waker as current mio builds it: a descriptor the
// event loop registers with epoll, edge-triggered, like any socket, and that
// any thread, or a signal handler, makes report by calling wake().
//
// Two files implement this one class, with the same function names, so that
// `diff waker_selfpipe.cpp waker_eventfd.cpp` shows only the mechanism:
//   waker_selfpipe.cpp  a non-blocking pipe: wake() writes one byte
//   waker_eventfd.cpp   an eventfd counter: wake() adds 1
// CMake links each program once with each file (mio_empty_selfpipe,
// mio_empty_eventfd, ...); there is no #ifdef here.
//
// The contract, whichever file is linked:
//   - Register fd() for EPOLLIN | EPOLLET. Every wake() is a write, and every
//     write is a new edge, so the next epoll_wait reports the waker once,
//     whether or not anybody was waiting when wake() ran. Wakes before the
//     loop looks coalesce into that one report.
//   - The loop never reads the descriptor: under EPOLLET, epoll_wait itself
//     used up the report, and there is nothing to reset.
//   - wake() never blocks, is safe from any thread and from a signal handler,
//     and leaves errno as it found it. Unread, the descriptor fills up in the
//     end (pipe: 64 KiB of bytes; eventfd: the counter at 2^64 - 2); then the
//     write fails with EAGAIN, and wake() drains the descriptor and writes
//     again. That is the only read (mio 1.x does the same:
//     src/sys/unix/waker/{eventfd,pipe}.rs).
//   - Registered level-triggered instead, a wake is a latch: nothing reads
//     it, so every later epoll_wait, in every thread, reports it. The
//     registration race's Poller::close() uses it that way.
// Left out on purpose: the atomic "already woken" flag that skips the system
// call on a repeated wake (see the book: it is an optimisation with a trap).
#pragma once

#include <atomic>
#include <cstdint>

namespace ioladder::ch03 {

class Waker {
  public:
    Waker(); // exits 1 naming the call if the descriptor cannot be created
    ~Waker();
    Waker(const Waker&) = delete;
    Waker& operator=(const Waker&) = delete;

    // The descriptor to register for EPOLLIN | EPOLLET.
    int fd() const { return read_fd_; }
    void wake();
    // How many times wake() found the descriptor full and drained it.
    std::uint64_t drains() const { return drains_.load(std::memory_order_relaxed); }
    // Demo hook: fills the descriptor as if the loop had ignored every wake
    // up to its capacity, so that the next wake() has to drain (a test cannot
    // wait for 2^64 - 2 eventfd wakes).
    void fill();
    // "self-pipe" or "eventfd", for the programs' output.
    static const char* kind();

  private:
    void drain(); // reads until empty; only wake() calls it, when a write would block
    int read_fd_ = -1;
    int write_fd_ = -1; // the eventfd waker reads and writes the same descriptor
    std::atomic<std::uint64_t> drains_{0};
};

} // namespace ioladder::ch03
