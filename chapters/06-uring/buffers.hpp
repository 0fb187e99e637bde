// buffers.hpp: a fixed set of equal buffers, and who picks the next one.
//
// With a provided-buffer ring (IORING_REGISTER_PBUF_RING, Linux 5.19), the
// *kernel* picks: a recv names a buffer group instead of an address, and the
// CQE says which buffer it filled (its id, in cqe.flags >> 16). We hand a
// buffer back by writing it into the ring and moving the ring's tail. When
// the ring is empty, the recv completes with -ENOBUFS.
//
// Without one (an older kernel, or --single-shot), *we* pick: take() pops a
// free buffer and the recv gets its address.
//
// Either way a buffer belongs to exactly one owner at a time: the ring (or
// the free list), or the kernel while a recv into it is in flight, or the
// connection until the send that echoes it completes. Memory comes from
// mmap, so buffers of an idle connection cost address space, not RAM.
#pragma once

#include "ring.hpp"

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <sys/mman.h>
#include <system_error>
#include <vector>

namespace ioladder::uring {

static_assert(offsetof(io_uring_buf_ring, tail) == offsetof(io_uring_buf, resv),
              "the buffer ring's tail is entry 0's resv field");

class Buffers {
  public:
    // count: a power of two (the ring's size); size: bytes per buffer.
    Buffers(unsigned count, unsigned size) : count_(count), size_(size) {
        len_ = ring_bytes() + size_t{count} * size;
        void* p = mmap(nullptr, len_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            throw std::system_error(errno, std::system_category(), "mmap of receive buffers");
        base_ = static_cast<char*>(p);
        for (unsigned i = count; i-- > 0;)
            free_.push_back(static_cast<uint16_t>(i));
    }
    ~Buffers() {
        unregister();
        munmap(base_, len_);
    }
    Buffers(const Buffers&) = delete;
    Buffers& operator=(const Buffers&) = delete;

    char* data(unsigned id) { return base_ + ring_bytes() + size_t{id} * size_; }
    unsigned size() const { return size_; }

    // [snippet: register-pbuf-ring]
    // Hands every buffer to the kernel as buffer group `group`. False (errno
    // set) when the kernel has no buffer rings (EINVAL before 5.19): the
    // caller then picks buffers itself.
    bool provide_to_kernel(Ring& ring, uint16_t group) {
        io_uring_buf_reg reg{};
        reg.ring_addr = reinterpret_cast<uint64_t>(base_); // page aligned: from mmap
        reg.ring_entries = count_;
        reg.bgid = group;
        int r = sys_io_uring_register(ring.fd(), IORING_REGISTER_PBUF_RING, &reg, 1);
        if (r < 0) return false;
        ring_ = &ring;
        group_ = group;
        for (uint16_t id : free_)
            give_back(id);
        free_.clear();
        return true;
    }
    // [/snippet]

    bool kernel_picks() const { return ring_ != nullptr; }
    uint16_t group() const { return group_; }

    // We pick (no buffer ring): a free buffer's id, or -1 when all are taken.
    int take() {
        if (free_.empty()) return -1;
        int id = free_.back();
        free_.pop_back();
        return id;
    }

    // [snippet: give-back]
    // The buffer is ours again (its echo was sent, or it was dropped).
    void give_back(uint16_t id) {
        if (!kernel_picks()) {
            free_.push_back(id);
            return;
        }
        // The ring is an array of struct io_uring_buf, and the tail is the
        // last 16 bits of entry 0 (its `resv`). Not br->bufs[i]: compiled as
        // C++, the uapi header's flexible array starts 8 bytes late (its empty
        // struct member has size 1 in C++, 0 in C), and every entry would be
        // written beside where the kernel reads it.
        auto* slots = reinterpret_cast<io_uring_buf*>(base_);
        io_uring_buf& slot = slots[tail_ & (count_ - 1)];
        slot.addr = reinterpret_cast<uint64_t>(data(id));
        slot.len = size_;
        slot.bid = id;
        ++tail_;
        // ordering: release, so the kernel sees the entry before the tail
        // that makes it available.
        std::atomic_ref<uint16_t>(slots[0].resv).store(tail_, std::memory_order_release);
    }
    // [/snippet]

    // Takes the buffers back from the kernel, which then holds none of them:
    // only when no recv that selects from this group is in flight, and none
    // of its buffers waits to be sent.
    void unregister() {
        if (!ring_) return;
        io_uring_buf_reg reg{};
        reg.bgid = group_;
        sys_io_uring_register(ring_->fd(), IORING_UNREGISTER_PBUF_RING, &reg, 1);
        ring_ = nullptr;
        for (unsigned i = count_; i-- > 0;)
            free_.push_back(static_cast<uint16_t>(i));
    }

  private:
    size_t ring_bytes() const { // the ring, rounded up to a page so buffers start aligned
        size_t bytes = size_t{count_} * sizeof(io_uring_buf);
        return (bytes + 4095) / 4096 * 4096;
    }
    unsigned count_, size_;
    size_t len_ = 0;
    char* base_ = nullptr;
    std::vector<uint16_t> free_; // ids we may pick (when the kernel does not)
    Ring* ring_ = nullptr;       // set while the kernel picks
    uint16_t group_ = 0;
    uint16_t tail_ = 0;
};

} // namespace ioladder::uring
