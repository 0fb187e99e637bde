// Reference solution for the recv_exact exercise (see ../recv_exact.hpp).
#include "recv_exact.hpp"

#include <sys/socket.h>

namespace ioladder::ch06 {

void prep_recv_exact(io_uring_sqe* sqe, int fd, void* buf, unsigned len, uint64_t user_data) {
    sqe->opcode = IORING_OP_RECV;
    sqe->fd = fd;
    sqe->addr = reinterpret_cast<uint64_t>(buf);
    sqe->len = len;
    // recv(2)'s own flag, in the SQE's msg_flags. On a stream socket
    // io_uring then retries a short receive itself (kernel commit
    // 7ba89d2af17a, 2022), and only the peer's FIN or an error ends it early.
    sqe->msg_flags = MSG_WAITALL;
    sqe->user_data = user_data;
}

void prep_recv_multishot(io_uring_sqe* sqe, int fd, uint16_t group, uint64_t user_data) {
    sqe->opcode = IORING_OP_RECV;
    sqe->fd = fd;
    sqe->flags = IOSQE_BUFFER_SELECT; // addr and len stay 0: the kernel picks a buffer
    sqe->buf_group = group;
    sqe->ioprio = IORING_RECV_MULTISHOT; // the receive's own flags live in ioprio
    sqe->user_data = user_data;
}

} // namespace ioladder::ch06
