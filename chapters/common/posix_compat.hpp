// posix_compat.hpp: the few Linux calls and names the shared code uses, for
// the systems that lack them. Chapter 04 (kqueue) builds natively on macOS
// and FreeBSD; on Linux nothing in this file is used.
//
//   ENONET        Linux's "machine is not on the network", one of the errors
//                 accept(2) says to retry. FreeBSD and macOS have no such
//                 errno; the case that names it can then never match.
//   macOS only    no SOCK_NONBLOCK or SOCK_CLOEXEC, no accept4(), no pipe2().
//                 They are emulated here with fcntl() right after the call,
//                 in namespace ioladder, where the shared code calls them
//                 unqualified. (Between the two calls another thread could
//                 fork and exec with the descriptor inherited; the programs
//                 that use this do not.)
#pragma once

#include <cerrno>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef ENONET
#define ENONET (-1) // no errno is negative
#endif

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0 // SIGPIPE is ignored by the programs instead
#endif

#ifndef SOCK_NONBLOCK
#define SOCK_NONBLOCK 0x10000000 // bits no socket type uses
#define SOCK_CLOEXEC 0x20000000

namespace ioladder {

// Sets what SOCK_NONBLOCK and SOCK_CLOEXEC in `flags` ask for on a new
// descriptor; closes it and returns -1 if that fails.
inline int with_fd_flags(int fd, int flags) {
    if (fd < 0) return fd;
    if (((flags & SOCK_NONBLOCK) && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) ||
        ((flags & SOCK_CLOEXEC) && fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

inline int socket(int domain, int type, int protocol) {
    return with_fd_flags(::socket(domain, type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC), protocol), type);
}

inline int accept4(int listener, sockaddr* peer, socklen_t* len, int flags) {
    return with_fd_flags(::accept(listener, peer, len), flags);
}

inline int pipe2(int fds[2], int flags) {
    if (::pipe(fds) < 0) return -1;
    int as_socket =
        ((flags & O_NONBLOCK) ? SOCK_NONBLOCK : 0) | ((flags & O_CLOEXEC) ? SOCK_CLOEXEC : 0);
    if (with_fd_flags(fds[0], as_socket) < 0) {
        close(fds[1]);
        return -1;
    }
    if (with_fd_flags(fds[1], as_socket) < 0) {
        close(fds[0]);
        return -1;
    }
    return 0;
}

} // namespace ioladder

#endif
