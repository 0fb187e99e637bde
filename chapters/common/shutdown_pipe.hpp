// shutdown_pipe.hpp: SIGINT and SIGTERM, turned into a descriptor.
//
// The self-pipe trick: the signal handler writes one byte to a pipe, and the
// event loop watches the read end like any socket. Why a pipe at all: a flag
// set by the handler and checked before the loop sleeps leaves a window (the
// signal lands after the check, and the loop sleeps on); a byte in a pipe
// stays until read, so the wait itself sees it. A signal handler may only
// call async-signal-safe functions; write(2) is one (signal-safety(7)).
// SIGPIPE is ignored so a peer that vanished turns into EPIPE from send(),
// not a dead server.
#pragma once

#include "log.hpp"

#include <csignal>
#include <fcntl.h>
#include <unistd.h>

namespace ioladder {

// [snippet: self-pipe]
class ShutdownPipe {
  public:
    ShutdownPipe() {
        int fds[2];
        // Both ends non-blocking and close-on-exec from the start: the handler
        // must never block, and the loop reads until EAGAIN.
        if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) die("pipe2");
        read_fd_ = fds[0];
        s_write_fd = fds[1]; // published before the handler can run
        struct sigaction sa {};
        sa.sa_handler = &ShutdownPipe::on_signal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESTART;
        if (sigaction(SIGINT, &sa, nullptr) < 0 || sigaction(SIGTERM, &sa, nullptr) < 0)
            die("sigaction");
        std::signal(SIGPIPE, SIG_IGN);
    }
    ~ShutdownPipe() {
        std::signal(SIGINT, SIG_DFL);
        std::signal(SIGTERM, SIG_DFL);
        close(read_fd_);
        close(s_write_fd);
        s_write_fd = -1;
    }
    ShutdownPipe(const ShutdownPipe&) = delete;
    ShutdownPipe& operator=(const ShutdownPipe&) = delete;

    // The read end: readable once SIGINT or SIGTERM has arrived.
    int fd() const { return read_fd_; }

  private:
    static void on_signal(int) {
        int saved = errno; // the interrupted code may be about to read errno
        // EAGAIN (pipe full) is fine: a byte is already waiting.
        [[maybe_unused]] ssize_t n = write(s_write_fd, "x", 1);
        errno = saved;
    }
    int read_fd_ = -1;
    inline static volatile sig_atomic_t s_write_fd = -1;
};
// [/snippet]

} // namespace ioladder
