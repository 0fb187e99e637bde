// Reference solution for the udp_truncation exercise (see ../udp_truncation.hpp).
#include "udp_truncation.hpp"

#include <cerrno>
#include <sys/uio.h>

namespace ioladder::ch01 {

RecvResult recv_datagram(int fd, std::span<char> buffer) {
    RecvResult r;
    iovec iov{buffer.data(), buffer.size()};
    for (;;) {
        msghdr msg{};
        msg.msg_name = &r.from;
        msg.msg_namelen = sizeof r.from;
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        // MSG_TRUNC in flags: return the real length even when it did not fit.
        ssize_t n = recvmsg(fd, &msg, MSG_TRUNC);
        if (n < 0) {
            if (errno == EINTR) continue; // a signal arrived first: retry
            if (errno == EAGAIN || errno == EWOULDBLOCK) return {Recv::none, 0, 0, {}, 0};
            return {Recv::failed, 0, errno, {}, 0};
        }
        // MSG_TRUNC in msg_flags is the kernel's word that bytes were cut
        // off; n == buffer.size() alone cannot tell a datagram that fitted
        // exactly from one that did not. n == 0 is an empty datagram, not EOF.
        r.status = (msg.msg_flags & MSG_TRUNC) ? Recv::truncated : Recv::datagram;
        r.size = static_cast<std::size_t>(n);
        r.from_len = msg.msg_namelen;
        return r;
    }
}

} // namespace ioladder::ch01
