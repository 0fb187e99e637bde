// waker_selfpipe.cpp: the Waker of waker.hpp on a non-blocking pipe.
//
// What it shows
//   - The oldest portable waker (mio uses it where there is no eventfd): the
//     loop watches the read end, edge-triggered; wake() writes one byte to
//     the write end. The loop never reads: each write is a new edge.
//   - Both ends are non-blocking (pipe2). Nobody reads, so the bytes pile up
//     until the pipe is full (64 KiB by default on Linux, see pipe(7)); then
//     write() fails with EAGAIN instead of blocking, and wake() drains the
//     pipe and writes again. Dropping that byte would lose the wake: the
//     loop may have used up the last edge long ago.
//   - It relies on every write to a polled pipe waking the poller, even when
//     the pipe already holds data. Linux 5.5 to 5.13 woke it only when the
//     pipe had been empty; 5.14 restored the wake on every write (commit
//     3a34b13a88ca, "pipe: make pipe writes always wake up readers"). On
//     those kernels this waker loses wakes; the eventfd one does not.
//
// Under strace:  pipe2([3, 4], O_NONBLOCK|O_CLOEXEC) = 0, then one
// write(4, "\1", 1) per wake and no read at all, until the 65537th unread
// wake: write = -1 EAGAIN, 17 reads (the last one EAGAIN), the write again.
//
// Left out on purpose: platforms without pipe2 (fcntl after pipe would do).
#include "waker.hpp"

#include "log.hpp"

#include <cerrno>
#include <fcntl.h>
#include <unistd.h>

namespace ioladder::ch03 {

Waker::Waker() {
    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) die("pipe2 (self-pipe waker)");
    read_fd_ = fds[0];
    write_fd_ = fds[1];
}

Waker::~Waker() {
    close(read_fd_);
    close(write_fd_);
}

const char* Waker::kind() {
    return "self-pipe";
}

// [snippet: selfpipe-wake]
void Waker::wake() {
    int saved = errno; // we may run inside a signal handler
    const char byte = 1;
    // EAGAIN: the pipe is full. Drain it and write again: only a write makes
    // a new edge. EINTR cannot happen: a non-blocking write never sleeps.
    while (write(write_fd_, &byte, 1) < 0 && errno == EAGAIN)
        drain();
    errno = saved;
}
// [/snippet]

// [snippet: selfpipe-drain]
void Waker::drain() {
    char buf[4096];
    while (read(read_fd_, buf, sizeof buf) > 0) {
    }
    // Ends on EAGAIN: empty. A 0 (end of file) cannot happen: we hold the write end.
    drains_.fetch_add(1, std::memory_order_relaxed);
}
// [/snippet]

void Waker::fill() {
    char buf[4096] = {};
    // Pages first, then single bytes for what a page no longer fits in.
    for (std::size_t size : {sizeof buf, std::size_t{1}})
        while (write(write_fd_, buf, size) > 0) {
        }
}

} // namespace ioladder::ch03
