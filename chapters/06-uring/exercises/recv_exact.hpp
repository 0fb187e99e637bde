// Exercise ch06 recv_exact: fill in the SQE for two receives, one that waits
// for a whole record and one that never ends.
//
// An SQE is a request form: an opcode, a descriptor, a buffer, flags in
// several places, and 64 bits of user_data that the kernel copies into the
// CQE untouched. Ring::get_sqe() hands out a zeroed one, and a zeroed SQE is
// a valid request: IORING_OP_NOP, which completes at once with res 0. So a
// field left out is not an error the kernel reports; it is another request.
// The fields are in <linux/io_uring.h> (struct io_uring_sqe); several are
// unions, so one offset has several names.
//
// 1. prep_recv_exact. A protocol with fixed-size records (a 16-byte header,
//    say) wants a record whole. A plain recv on a stream socket completes
//    with whatever has arrived, 5 bytes of the 16 perhaps, and the caller
//    must submit again for the rest: one more SQE, one more CQE and one more
//    pass through the loop per fragment. Ask instead for a recv that the
//    kernel itself keeps going until all `len` bytes are in, so that exactly
//    one CQE reports them. Only the end of the stream (the peer's FIN) or an
//    error may end it sooner, and then res says how many bytes did arrive.
//    Which flag asks for that is in recv(2). io_uring never sleeps inside
//    recv(): it tries without blocking and waits for readiness itself, so
//    whether it honours that flag across its own retries is worth checking
//    on your kernel (since kernel commit 7ba89d2af17a, 2022, it does for
//    stream and seqpacket sockets; the tests check it on this machine).
//
// 2. prep_recv_multishot. A server wants one SQE per connection, not one
//    per arrival: a receive that stays armed and posts a CQE each time data
//    arrives, each CQE flagged IORING_CQE_F_MORE while the receive goes on.
//    No single buffer can serve an unbounded number of arrivals, so the SQE
//    names no buffer at all (address and length 0): the kernel takes one
//    from the provided-buffer ring registered as buffer group `group`, and
//    the CQE says which (IORING_CQE_F_BUFFER, the id in flags >> 16).
//    echo_tcp_uring.cpp arms such a receive; here you decide each field.
#pragma once

#include <cstddef>
#include <cstdint>
#include <linux/io_uring.h>

namespace ioladder::ch06 {

// Fills `sqe` (zeroed, from Ring::get_sqe()) with a receive of exactly `len`
// bytes into `buf` from the stream socket `fd`: one CQE, with user_data, and
// res == len unless the peer closed (fewer) or an error ended it (-errno).
void prep_recv_exact(io_uring_sqe* sqe, int fd, void* buf, unsigned len, uint64_t user_data);

// Fills `sqe` (zeroed) with a multishot receive from the stream socket `fd`
// into buffers of buffer group `group` (Linux 6.0): a CQE with user_data per
// arrival, IORING_CQE_F_MORE set while it stays armed.
void prep_recv_multishot(io_uring_sqe* sqe, int fd, uint16_t group, uint64_t user_data);

} // namespace ioladder::ch06
