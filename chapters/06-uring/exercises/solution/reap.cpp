// Reference solution for the reap exercise (see ../reap.hpp).
#include "reap.hpp"

#include <algorithm>
#include <atomic>

namespace ioladder::ch06 {

std::size_t reap(const CqView& cq, std::span<io_uring_cqe> out) {
    // Only we write head, so our own last store is what we read back.
    const unsigned head = std::atomic_ref<unsigned>(*cq.head).load(std::memory_order_relaxed);
    // Acquire: every CQE the kernel wrote below this tail is visible to the
    // reads that follow.
    const unsigned tail = std::atomic_ref<unsigned>(*cq.tail).load(std::memory_order_acquire);
    // Unsigned subtraction counts correctly across the wrap at 2^32.
    const std::size_t n = std::min<std::size_t>(tail - head, out.size());
    for (std::size_t i = 0; i < n; ++i)
        out[i] = cq.cqes[(head + static_cast<unsigned>(i)) & cq.ring_mask];
    // Release: the copies above are complete before the kernel can see the
    // slots as free and write over them.
    if (n > 0)
        std::atomic_ref<unsigned>(*cq.head).store(head + static_cast<unsigned>(n),
                                                  std::memory_order_release);
    return n;
}

} // namespace ioladder::ch06
