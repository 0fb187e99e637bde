// Exercise ch01 udp_truncation: receive a datagram, detect truncation.
// Read udp_truncation.hpp first.
// Grade it: ctest --preset exercises -R "ch01 udp_truncation"
#include "udp_truncation.hpp"

#include <cerrno>
#include <sys/uio.h>

namespace ioladder::ch01 {

RecvResult recv_datagram([[maybe_unused]] int fd, [[maybe_unused]] std::span<char> buffer) {
    // TODO: receive one datagram into `buffer` with one receive call per
    // datagram (recvmsg(2) or recvfrom(2), your choice), recording the sender
    // in result.from and result.from_len.
    //   - it did not fit: Recv::truncated (the buffer holds only a prefix:
    //     never echo it); otherwise Recv::datagram (0 bytes is a datagram, not EOF);
    //   - in both cases `size` is the datagram's real length (see the header
    //     for how the kernel tells you it);
    //   - EINTR: retry; EAGAIN/EWOULDBLOCK: Recv::none;
    //     any other errno: Recv::failed with the errno in `error`.
    return {Recv::failed, 0, ENOSYS, {}, 0};
}

} // namespace ioladder::ch01
