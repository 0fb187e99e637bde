// ring.hpp: io_uring from the three system calls up, with no liburing.
//
// io_uring is two ring buffers shared between this process and the kernel:
//
//   submission queue (SQ): we write SQEs ("recv into this buffer, tag 42"),
//                          the kernel consumes them;
//   completion queue (CQ): the kernel writes CQEs ("tag 42: 17 bytes"),
//                          we consume them.
//
// Each ring has a head and a tail. The producer writes entries, then moves the
// tail; the consumer reads entries, then moves the head. Neither side ever
// takes a lock: the only synchronisation is the order of those loads and
// stores (see the comments marked "ordering" in ring.cpp).
//
//   io_uring_setup(2)     makes the rings; we mmap them into our memory
//   io_uring_enter(2)     tells the kernel how many new SQEs there are, and
//                         optionally waits until some CQEs are there
//   io_uring_register(2)  registers resources (here: buffer rings, the probe)
//
// What this wrapper leaves out, on purpose: registered files and buffers,
// linked SQEs, SQE128/CQE32, IORING_SETUP_NO_SQARRAY and NO_MMAP.
#pragma once

#include <cstdint>
#include <linux/io_uring.h>
#include <string>
#include <sys/types.h>

namespace ioladder::uring {

// The raw system calls: glibc has no wrappers for them.
int sys_io_uring_setup(unsigned entries, io_uring_params* p);
int sys_io_uring_enter(int fd, unsigned to_submit, unsigned min_complete, unsigned flags);
int sys_io_uring_register(int fd, unsigned opcode, void* arg, unsigned nr_args);

// Why io_uring_setup failed, in words a reader can act on.
std::string unavailable_reason(int err);

// A CQE's res as text: a count ("17"), or the negated errno by name
// ("-ECANCELED"). -512 is ERESTARTSYS, a code internal to the kernel, which
// an open interrupted in a worker lets out (seen on 6.18; paritytech/polkavm
// pull request 154 met it on 6.10).
std::string result_name(int res);

class Ring {
  public:
    struct Setup {
        unsigned entries = 256;  // SQ size (the kernel rounds up to a power of two)
        unsigned cq_entries = 0; // 0: twice the SQ, the kernel's default
        unsigned flags = 0;      // IORING_SETUP_*
        unsigned sq_idle_ms = 0; // IORING_SETUP_SQPOLL: how long the thread spins
        // Map the CQ ring with its own mmap even when the kernel offers
        // IORING_FEAT_SINGLE_MMAP, as kernels before 5.4 require (tests use it).
        bool separate_cq_map = false;
    };

    // Throws std::system_error naming io_uring_setup (or mmap) on failure.
    explicit Ring(const Setup& setup);
    ~Ring();
    Ring(const Ring&) = delete;
    Ring& operator=(const Ring&) = delete;

    int fd() const { return fd_; }
    unsigned features() const { return params_.features; } // IORING_FEAT_*
    unsigned flags() const { return params_.flags; }       // IORING_SETUP_* in effect
    unsigned sq_entries() const { return params_.sq_entries; }
    unsigned cq_entries() const { return params_.cq_entries; }

    // A zeroed SQE to fill in, or nullptr when every slot is taken (submit
    // first). The SQE is not visible to the kernel until submit().
    io_uring_sqe* get_sqe();

    // Publishes the SQEs written since the last call and enters the kernel
    // when it must: to submit (unless an SQPOLL thread does), to wait for
    // `wait_nr` completions, or to flush CQEs that overflowed. Returns what
    // io_uring_enter returned (SQEs consumed) or -errno; 0 when no call was
    // needed. EINTR, EAGAIN and EBUSY are the caller's to handle: reap what
    // is in the CQ, then call again (io_uring_enter(2)).
    int submit(unsigned wait_nr = 0);

    // Calls f(const io_uring_cqe&) for every CQE there is, then frees their
    // slots in one store. Returns how many. f may call get_sqe().
    template <class F>
    unsigned for_each_cqe(F&& f) {
        unsigned head = *cq_.head; // only we write it
        unsigned tail = load_acquire(cq_.tail);
        for (unsigned i = head; i != tail; ++i)
            f(cq_.cqes[i & *cq_.ring_mask]);
        if (head != tail) store_release(cq_.head, tail);
        return tail - head;
    }

    // SQEs written but not yet consumed by the kernel.
    unsigned sq_pending() const;
    // CQEs waiting to be reaped.
    unsigned cq_ready() const;
    // The kernel holds CQEs that did not fit (IORING_FEAT_NODROP): the next
    // submit() enters with IORING_ENTER_GETEVENTS to bring them in.
    bool cq_overflow_pending() const;
    // CQEs lost for good (only on kernels without IORING_FEAT_NODROP).
    unsigned cq_dropped() const { return load_acquire(cq_.overflow); }

    long enter_calls() const { return enter_calls_; } // for tests and -v

  private:
    void release();
    static unsigned load_acquire(const unsigned* p);
    static void store_release(unsigned* p, unsigned v);

    struct Sq {
        unsigned *head, *tail, *ring_mask, *ring_entries, *flags, *dropped, *array;
    };
    struct Cq {
        unsigned *head, *tail, *ring_mask, *ring_entries, *overflow;
        io_uring_cqe* cqes;
    };

    int fd_ = -1;
    io_uring_params params_{};
    void* sq_map_ = nullptr;
    size_t sq_map_len_ = 0;
    void* cq_map_ = nullptr; // == sq_map_ with IORING_FEAT_SINGLE_MMAP
    size_t cq_map_len_ = 0;
    io_uring_sqe* sqes_ = nullptr;
    size_t sqes_len_ = 0;
    Sq sq_{};
    Cq cq_{};
    unsigned sqe_tail_ = 0; // next SQE we hand out; published to *sq_.tail by submit()
    long enter_calls_ = 0;
};

} // namespace ioladder::uring
