// Exercise ch06 recv_exact: fill in the SQE for two receives.
// Read recv_exact.hpp first. Grade it: ctest --preset exercises -R "ch06 recv_exact"
#include "recv_exact.hpp"

#include <sys/socket.h>

namespace ioladder::ch06 {

void prep_recv_exact([[maybe_unused]] io_uring_sqe* sqe, [[maybe_unused]] int fd,
                     [[maybe_unused]] void* buf, [[maybe_unused]] unsigned len,
                     [[maybe_unused]] uint64_t user_data) {
    // TODO: a receive that completes once, when all `len` bytes are in `buf`
    // (or at the peer's FIN, or on an error). Decide which field carries the
    // flag that asks for that.
    // Limits: one SQE; set only what the request needs (the SQE is zeroed).
}

void prep_recv_multishot([[maybe_unused]] io_uring_sqe* sqe, [[maybe_unused]] int fd,
                         [[maybe_unused]] uint16_t group, [[maybe_unused]] uint64_t user_data) {
    // TODO: a receive that stays armed and posts a CQE per arrival, each into
    // a buffer the kernel picks from buffer group `group`.
    // Limits: one SQE; no address and no length.
}

} // namespace ioladder::ch06
