// Exercise ch01 accept_guard: accept one connection, refuse descriptors that
// select() cannot watch. Read accept_guard.hpp first.
// Grade it: ctest --preset exercises -R accept_guard
#include "accept_guard.hpp"

#include <cerrno>
#include <sys/socket.h>
#include <unistd.h>

namespace ioladder::ch01 {

AcceptResult accept_guarded([[maybe_unused]] int listener, [[maybe_unused]] int fd_limit) {
    // TODO: accept one connection from `listener` with accept4(2), making the
    // new descriptor non-blocking and close-on-exec (SOCK_NONBLOCK | SOCK_CLOEXEC).
    //   - new fd >= fd_limit: close it and return {Accept::refused, fd, 0};
    //   - otherwise return {Accept::accepted, fd, 0};
    //   - EINTR or ECONNABORTED: nothing to report, call accept4 again;
    //   - EAGAIN/EWOULDBLOCK: return {Accept::none, -1, 0};
    //   - any other errno: return {Accept::failed, -1, errno}.
    // Limits: one connection per call; never leave a refused descriptor open.
    return {Accept::failed, -1, ENOSYS};
}

} // namespace ioladder::ch01
