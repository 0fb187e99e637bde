// Exercise ch01 udp_truncation: receive one datagram, and notice when it did
// not fit.
//
// recvfrom() into a 64-byte buffer happily returns the first 64 bytes of a
// 100-byte datagram and discards the rest. An echo server that sends those
// 64 bytes back echoes garbage: a prefix the client never sent as a
// datagram. The kernel can say what happened, in two ways (recv(2)):
// recvmsg() sets MSG_TRUNC in msg_flags when the datagram was longer than
// the buffer, and on Linux MSG_TRUNC passed in the flags argument (of
// recvmsg(), recvfrom() or recv()) makes the call return the datagram's real
// length even when it did not fit (udp(7)). Either is enough to tell; a
// return value equal to the buffer size is not.
#pragma once

#include <cstddef>
#include <span>
#include <sys/socket.h>

namespace ioladder::ch01 {

enum class Recv {
    datagram,  // the whole datagram is in the buffer (it may be 0 bytes long)
    truncated, // it was longer than the buffer: do not use the buffer
    none,      // nothing waiting (EAGAIN/EWOULDBLOCK)
    failed,    // any other error, in `error`
};

struct RecvResult {
    Recv status = Recv::failed;
    std::size_t size = 0;    // datagram/truncated: the datagram's real length
    int error = 0;           // errno for failed, else 0
    sockaddr_storage from{}; // datagram/truncated: the sender (for the echo)
    socklen_t from_len = 0;
};

// Receives one datagram from the non-blocking datagram socket `fd` into
// `buffer`. Retries on EINTR.
RecvResult recv_datagram(int fd, std::span<char> buffer);

} // namespace ioladder::ch01
