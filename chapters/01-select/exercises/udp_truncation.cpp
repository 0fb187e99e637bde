// Exercise ch01 udp_truncation: receive a datagram, detect truncation.
// Read udp_truncation.hpp first. Grade it: ctest --preset exercises -R udp_truncation
#include "udp_truncation.hpp"

#include <cerrno>
#include <sys/uio.h>

namespace ioladder::ch01 {

RecvResult recv_datagram([[maybe_unused]] int fd, [[maybe_unused]] std::span<char> buffer) {
    // TODO: receive one datagram with recvmsg(2) into `buffer` (one iovec),
    // with msg_name pointing at result.from so the sender is recorded.
    //   - msg.msg_flags has MSG_TRUNC: the datagram did not fit; return
    //     Recv::truncated (the buffer holds only a prefix: never echo it);
    //   - otherwise Recv::datagram; a 0-byte datagram is valid, not EOF;
    //   - in both cases `size` is the datagram's real length (pass MSG_TRUNC
    //     in recvmsg's flags argument and Linux returns it) and `from_len`
    //     is msg.msg_namelen;
    //   - EINTR: retry; EAGAIN/EWOULDBLOCK: Recv::none;
    //     any other errno: Recv::failed with the errno in `error`.
    return {Recv::failed, 0, ENOSYS, {}, 0};
}

} // namespace ioladder::ch01
