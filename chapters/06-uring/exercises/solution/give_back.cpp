// Reference solution for the give_back exercise (see ../give_back.hpp).
#include "give_back.hpp"

#include <atomic>

namespace ioladder::ch06 {

void give_back(BufRing& ring, std::span<const Returned> buffers) {
    if (buffers.empty()) return;
    // Entry i is at base + 16 * i: an array of io_uring_buf from the base.
    // Not ring->bufs[i]: compiled as C++, the uapi header's flexible array
    // starts 8 bytes in (its empty struct member has size 1 in C++, 0 in C),
    // so every entry would land across two of the kernel's.
    auto* slots = static_cast<io_uring_buf*>(ring.base);
    const unsigned mask = ring.entries - 1;
    uint16_t tail = ring.tail;
    for (const Returned& b : buffers) {
        // Field by field: a whole-struct store into entry 0 would also write
        // its resv, which is the tail, while the kernel may be reading it.
        io_uring_buf& slot = slots[tail & mask];
        slot.addr = reinterpret_cast<uint64_t>(b.addr);
        slot.len = b.len;
        slot.bid = b.id;
        ++tail; // uint16_t: wraps at 65536, as the kernel's head does
    }
    // Release: every entry above is written before the kernel can see the
    // tail that covers it.
    std::atomic_ref<uint16_t>(slots[0].resv).store(tail, std::memory_order_release);
    ring.tail = tail;
}

} // namespace ioladder::ch06
