// Reference solution for the accept_guard exercise (see ../accept_guard.hpp).
#include "accept_guard.hpp"

#include <cerrno>
#include <sys/socket.h>
#include <unistd.h>

namespace ioladder::ch01 {

AcceptResult accept_guarded(int listener, int fd_limit) {
    for (;;) {
        // accept4 sets both flags atomically: no window in which another
        // thread could fork+exec with our connection open, no extra fcntl.
        int fd = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            if (fd >= fd_limit) {
                // Too large for an fd_set. Closing it is the only safe move:
                // the client sees EOF instead of waiting for an echo forever.
                close(fd);
                return {Accept::refused, fd, 0};
            }
            return {Accept::accepted, fd, 0};
        }
        switch (errno) {
        case EINTR:        // a signal arrived first: nothing happened, retry
        case ECONNABORTED: // that client gave up already: take the next one
            continue;
        case EAGAIN:
#if EWOULDBLOCK != EAGAIN
        case EWOULDBLOCK:
#endif
            return {Accept::none, -1, 0};
        default: // EMFILE, ENFILE, ENOBUFS, ...: the caller decides
            return {Accept::failed, -1, errno};
        }
    }
}

} // namespace ioladder::ch01
