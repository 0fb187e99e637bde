// waker_selfpipe.cpp: the Waker of waker.hpp on a non-blocking pipe.
//
// What it shows
//   - The oldest portable waker (mio uses it where there is no eventfd): the
//     loop watches the read end, wake() writes one byte to the write end.
//   - Both ends are non-blocking. When the pipe is full (64 KiB by default on
//     Linux, see pipe(7)), write() fails with EAGAIN and we ignore it: a full
//     pipe is already readable, so the loop is already woken. That is why the
//     pipe never "fills up" in a way that matters and wake() never blocks.
//   - reset() reads until EAGAIN: one wake or 65536, one drain.
//
// Under strace:  pipe2([3, 4], O_NONBLOCK|O_CLOEXEC) = 0, then write(4, "\1", 1)
// per wake and read(3, ..., 4096) until EAGAIN per reset.
//
// Left out on purpose: platforms without pipe2 (fcntl after pipe would do).
#include "waker.hpp"

#include "echo_common.hpp"

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
    // EAGAIN: the pipe is full, so it is readable and the loop is woken
    // already; dropping this byte loses nothing. EINTR cannot happen: a
    // non-blocking write never sleeps.
    [[maybe_unused]] ssize_t n = write(write_fd_, &byte, 1);
    errno = saved;
}
// [/snippet]

// [snippet: selfpipe-reset]
std::uint64_t Waker::reset() {
    std::uint64_t drained = 0;
    char buf[4096];
    for (;;) {
        ssize_t n = read(read_fd_, buf, sizeof buf);
        if (n > 0) {
            drained += static_cast<std::uint64_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        // EAGAIN: empty, the loop will sleep until the next wake(). n == 0
        // (EOF) cannot happen while we hold the write end.
        return drained;
    }
}
// [/snippet]

} // namespace ioladder::ch03
