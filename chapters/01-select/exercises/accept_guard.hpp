// Exercise ch01 accept_guard: accept one connection, and refuse it when its
// descriptor is too large for select().
//
// select() can only watch descriptors below FD_SETSIZE (1024). A server with
// RLIMIT_NOFILE above that will, sooner or later, accept a connection whose
// descriptor select() cannot watch. Writing it into an fd_set corrupts memory;
// the server must notice at accept time, close it (the client sees the
// connection closed rather than a hang) and keep serving everyone else.
// The limit is a parameter so a test can use a small one instead of opening
// a thousand descriptors; the server passes FD_SETSIZE.
#pragma once

namespace ioladder::ch01 {

enum class Accept {
    accepted, // `fd` is a new connection, non-blocking and close-on-exec
    refused,  // the new descriptor `fd` was >= the limit; it has been closed
    none,     // nothing waiting (EAGAIN/EWOULDBLOCK)
    failed,   // accept failed with `error` (e.g. EMFILE); nothing was accepted
};

struct AcceptResult {
    Accept status = Accept::failed;
    int fd = -1;   // accepted: the open descriptor; refused: the number it had
    int error = 0; // errno for failed, else 0
};

// Accepts one connection from the non-blocking listening socket `listener`.
// A descriptor >= fd_limit is closed and reported as refused. Retries when
// accept is interrupted (EINTR) or the connection was aborted before it was
// accepted (ECONNABORTED).
AcceptResult accept_guarded(int listener, int fd_limit);

} // namespace ioladder::ch01
