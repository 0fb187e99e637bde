// ring.cpp: setting up the rings, publishing SQEs and entering the kernel.
// Read ring.hpp first.
#include "ring.hpp"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <system_error>
#include <unistd.h>

namespace ioladder::uring {

int sys_io_uring_setup(unsigned entries, io_uring_params* p) {
    return static_cast<int>(syscall(__NR_io_uring_setup, entries, p));
}
int sys_io_uring_enter(int fd, unsigned to_submit, unsigned min_complete, unsigned flags) {
    return static_cast<int>(
        syscall(__NR_io_uring_enter, fd, to_submit, min_complete, flags, nullptr, 0));
}
int sys_io_uring_register(int fd, unsigned opcode, void* arg, unsigned nr_args) {
    return static_cast<int>(syscall(__NR_io_uring_register, fd, opcode, arg, nr_args));
}

std::string unavailable_reason(int err) {
    std::string why = std::string("io_uring_setup: ") + std::strerror(err);
    std::string sysctl;
    if (std::ifstream f("/proc/sys/kernel/io_uring_disabled"); f >> sysctl)
        sysctl = " (kernel.io_uring_disabled is " + sysctl + ")";
    switch (err) {
    case ENOSYS:
        return why + ": this kernel has no io_uring (older than 5.1, or built without "
                     "CONFIG_IO_URING), or a seccomp filter hides it";
    case EPERM:
        return why + ": io_uring is switched off for this process" + sysctl +
               ", or a seccomp filter forbids it (container runtimes often do)";
    case ENOMEM:
        return why + ": no memory for the rings; kernels before 5.12 charge them to "
                     "RLIMIT_MEMLOCK (see ulimit -l)";
    case EINVAL:
        return why + ": the kernel does not know a flag this program asked for (too old)";
    default:
        return why;
    }
}

std::string result_name(int res) {
    if (res >= 0) return std::to_string(res);
    if (res == -512) return "-ERESTARTSYS";
    const char* name = strerrorname_np(-res); // glibc 2.32
    return name ? std::string("-") + name : std::to_string(res);
}

// [snippet: ordering]
// ordering: the kernel and this process touch the ring indexes at the same
// time, from different CPUs. A plain load or store could be reordered with
// the entry it guards, so the indexes go through std::atomic_ref:
//   - a producer fills the entry, then store_release(tail): whoever sees the
//     new tail also sees the entry;
//   - a consumer load_acquire(tail), then reads the entries below it.
// The same pair guards the heads, in the other direction: the consumer says
// "done with these slots" with store_release(head), and the producer reuses
// a slot only after load_acquire(head) says it is free.
unsigned Ring::load_acquire(const unsigned* p) {
    return std::atomic_ref<unsigned>(*const_cast<unsigned*>(p)).load(std::memory_order_acquire);
}
void Ring::store_release(unsigned* p, unsigned v) {
    std::atomic_ref<unsigned>(*p).store(v, std::memory_order_release);
}
// [/snippet]

// [snippet: setup]
Ring::Ring(const Setup& setup) {
    params_.flags = setup.flags;
    params_.sq_thread_idle = setup.sq_idle_ms;
    if (setup.cq_entries) {
        params_.flags |= IORING_SETUP_CQSIZE;
        params_.cq_entries = setup.cq_entries;
    }
    fd_ = sys_io_uring_setup(setup.entries, &params_);
    if (fd_ < 0) throw std::system_error(errno, std::system_category(), "io_uring_setup");

    // The kernel filled params_: sizes, and where each field lives in the
    // shared memory (offsets, so the layout can change between versions).
    auto map = [this](size_t len, off_t what) {
        void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_, what);
        if (p == MAP_FAILED) {
            int err = errno;
            release(); // the constructor will not finish: undo what is done
            throw std::system_error(err, std::system_category(), "mmap of the io_uring rings");
        }
        return p;
    };
    sq_map_len_ = params_.sq_off.array + params_.sq_entries * sizeof(unsigned);
    cq_map_len_ = params_.cq_off.cqes + params_.cq_entries * sizeof(io_uring_cqe);
    // IORING_FEAT_SINGLE_MMAP (5.4): both rings live in one mapping.
    bool single = (params_.features & IORING_FEAT_SINGLE_MMAP) && !setup.separate_cq_map;
    if (single) sq_map_len_ = cq_map_len_ = std::max(sq_map_len_, cq_map_len_);
    sq_map_ = map(sq_map_len_, IORING_OFF_SQ_RING);
    cq_map_ = single ? sq_map_ : map(cq_map_len_, IORING_OFF_CQ_RING);
    sqes_len_ = params_.sq_entries * sizeof(io_uring_sqe);
    sqes_ = static_cast<io_uring_sqe*>(map(sqes_len_, IORING_OFF_SQES));

    auto at = [](void* base, unsigned off) {
        return reinterpret_cast<unsigned*>(static_cast<char*>(base) + off);
    };
    const io_sqring_offsets& so = params_.sq_off;
    sq_ = {at(sq_map_, so.head),         at(sq_map_, so.tail),  at(sq_map_, so.ring_mask),
           at(sq_map_, so.ring_entries), at(sq_map_, so.flags), at(sq_map_, so.dropped),
           at(sq_map_, so.array)};
    const io_cqring_offsets& co = params_.cq_off;
    cq_ = {at(cq_map_, co.head),      at(cq_map_, co.tail),
           at(cq_map_, co.ring_mask), at(cq_map_, co.ring_entries),
           at(cq_map_, co.overflow),  reinterpret_cast<io_uring_cqe*>(at(cq_map_, co.cqes))};

    // The SQ ring holds indexes into the SQE array, not SQEs. We always use
    // SQE i for ring slot i, so the index array is filled once, here.
    for (unsigned i = 0; i < params_.sq_entries; ++i)
        sq_.array[i] = i;
    sqe_tail_ = *sq_.tail;
}
// [/snippet]

Ring::~Ring() {
    release();
}

void Ring::release() {
    if (sqes_) munmap(sqes_, sqes_len_);
    if (cq_map_ && cq_map_ != sq_map_) munmap(cq_map_, cq_map_len_);
    if (sq_map_) munmap(sq_map_, sq_map_len_);
    if (fd_ >= 0) close(fd_);
    sqes_ = nullptr;
    cq_map_ = sq_map_ = nullptr;
    fd_ = -1;
}

// [snippet: get-sqe]
io_uring_sqe* Ring::get_sqe() {
    // ordering: acquire, so the kernel has finished reading a slot before we
    // write over it.
    unsigned head = load_acquire(sq_.head);
    if (sqe_tail_ - head >= params_.sq_entries) return nullptr; // full
    io_uring_sqe* sqe = &sqes_[sqe_tail_ & *sq_.ring_mask];
    std::memset(sqe, 0, sizeof *sqe);
    ++sqe_tail_;
    return sqe;
}
// [/snippet]

unsigned Ring::sq_pending() const {
    return sqe_tail_ - load_acquire(sq_.head);
}

unsigned Ring::cq_ready() const {
    return load_acquire(cq_.tail) - *cq_.head;
}

bool Ring::cq_overflow_pending() const {
    return load_acquire(sq_.flags) & IORING_SQ_CQ_OVERFLOW;
}

// [snippet: submit]
int Ring::submit(unsigned wait_nr) {
    // ordering: release, so the kernel sees the SQEs' contents before it
    // sees the tail that covers them. (Indexes are free-running unsigned
    // counters: they wrap around 2^32 and are masked only to find a slot.)
    store_release(sq_.tail, sqe_tail_);
    unsigned to_submit = sq_pending(); // includes any a failed call left behind
    // Completions already in the CQ need no wait: reap those first.
    if (cq_ready() >= wait_nr) wait_nr = 0;
    unsigned flags = 0;
    if (wait_nr > 0 || cq_overflow_pending()) flags |= IORING_ENTER_GETEVENTS;
    if (params_.flags & IORING_SETUP_SQPOLL) {
        // The kernel thread submits; we enter only to wake it, or to wait.
        // ordering: a full fence between our tail store and the flags load.
        // Otherwise the thread could check the tail (old), go to sleep and set
        // NEED_WAKEUP while we read the flags (old: awake), and nobody would
        // submit.
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (load_acquire(sq_.flags) & IORING_SQ_NEED_WAKEUP) flags |= IORING_ENTER_SQ_WAKEUP;
        to_submit = 0; // not ours to count
    }
    if (to_submit == 0 && flags == 0) return 0; // nothing for the kernel to do
    ++enter_calls_;
    int r = sys_io_uring_enter(fd_, to_submit, wait_nr, flags);
    return r < 0 ? -errno : r;
}
// [/snippet]

} // namespace ioladder::uring
