// Exercise ch06 reap: copy completions out of the CQ ring, as many as fit,
// and free their slots with one store.
//
// The completion queue is an array of `ring_mask + 1` CQEs in memory shared
// with the kernel, and two counters. The kernel writes a CQE into the slot of
// `tail`, then moves tail on; we read the CQE at `head`, then move head on.
// The counters are free-running unsigned numbers: they only grow, wrap
// around at 2^32, and become a slot index through the mask. Between head and
// tail are the CQEs waiting for us. Once head has moved past a slot, the
// kernel may write the next CQE into it at any moment, from another CPU:
// after that store, the slot is no longer ours to read.
//
// The chapter's Ring::for_each_cqe hands each CQE to a function while its
// slot is still ours, and frees every slot at the end. This caller wants
// copies instead, to handle later, and has room for only out.size() of them:
// take as many as fit, oldest first, and leave the rest in the ring, where
// the next call finds them.
//
// The two sides meet only through head and tail, and each store or load of
// them orders the entries around it (see "ordering" in ring.cpp): load tail
// with acquire before reading the CQEs below it; store head with release
// after reading the CQEs it frees. One store per call, whatever the count,
// and none when nothing was taken: the kernel reads head from its own CPU,
// and every store to it makes that CPU fetch the cache line again.
#pragma once

#include <cstddef>
#include <linux/io_uring.h>
#include <span>

namespace ioladder::ch06 {

// Where the CQ ring's parts are (from io_uring_params::cq_off and mmap).
struct CqView {
    unsigned* head;           // ours: we move it on; the kernel only reads it
    unsigned* tail;           // the kernel's: read it, never write it
    unsigned ring_mask;       // the number of slots minus 1 (a power of two minus 1)
    const io_uring_cqe* cqes; // the slots
};

// Copies min(waiting CQEs, out.size()) CQEs, oldest first, into out[0..n),
// then frees exactly those n slots, in one store. Returns n.
std::size_t reap(const CqView& cq, std::span<io_uring_cqe> out);

} // namespace ioladder::ch06
