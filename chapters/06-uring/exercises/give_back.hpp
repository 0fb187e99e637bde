// Exercise ch06 give_back: hand buffers back to a provided-buffer ring, a
// batch at a time, published by one store of the tail.
//
// A provided-buffer ring (IORING_REGISTER_PBUF_RING, Linux 5.19) is an array
// of `entries` struct io_uring_buf in our memory, which the kernel reads.
// Each entry offers one buffer: its address, its length and the id the CQE
// will carry. We produce entries at the tail; the kernel consumes them at its
// head, one each time a receive that selects from the group needs a buffer,
// and when there is none the receive fails with -ENOBUFS. The head is the
// kernel's own and never shown. The tail is ours, and the kernel reads it
// from the ring itself: it is the last 16 bits of entry 0, which that entry
// does not otherwise use (its `resv`). Both counters are 16 bits wide and
// wrap around at 65536; counter c is entry c & (entries - 1).
//
// The chapter's Buffers::give_back returns one buffer per call, with one
// store of the tail each. Here a caller has just finished with several (a
// reply gathered from many buffers has been sent) and returns them
// together: every entry written first, then a single store of the new tail,
// with release, so that the kernel, reading the tail from another CPU, finds
// every entry below it complete. Entries not yet covered by the tail are not
// the kernel's to read; once they are covered, they are not ours to write.
//
// The uapi header describes the ring as struct io_uring_buf_ring, with the
// entries in a flexible array member `bufs`. Before you index it, check
// where your compiler puts bufs[0] (offsetof) and where the kernel expects
// entry 0 to be.
#pragma once

#include <cstdint>
#include <linux/io_uring.h>
#include <span>

namespace ioladder::ch06 {

struct BufRing {
    void* base;       // the ring's memory, as registered (io_uring_buf_reg::ring_addr)
    unsigned entries; // as registered (ring_entries): a power of two, at most 32768
    uint16_t tail;    // entries published so far, mod 65536 (the kernel reads the ring's copy)
};

struct Returned {
    uint16_t id; // what the CQE will report (flags >> IORING_CQE_BUFFER_SHIFT)
    void* addr;  // where the kernel may write
    unsigned len;
};

// Adds `buffers` to the ring, in order, and publishes them with one store of
// the tail; ring.tail moves on by buffers.size(). The caller guarantees room:
// at most `entries` buffers are in the ring or with the kernel at any time.
void give_back(BufRing& ring, std::span<const Returned> buffers);

} // namespace ioladder::ch06
