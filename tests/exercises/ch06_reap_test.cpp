// Grades the ch06 reap exercise (chapters/06-uring/exercises/reap.hpp): on a
// ring the test sets up itself with the raw system calls, as small as the
// kernel allows, so NOPs go round it hundreds of times; on CQ rings laid out
// in plain memory, where the counters can start just below 2^32; and under
// an AccessLog, which shows whether the slots were read before they were
// freed.
#include "catch_compat.hpp"
#include "ch06_uring_support.hpp"
#include "reap.hpp"
#include "support.hpp"

#include <atomic>
#include <cstring>
#include <sys/mman.h>
#include <vector>

using namespace ioladder::test;
using namespace ioladder::test::uring;
using ioladder::ch06::CqView;
using ioladder::ch06::reap;
using ioladder::uring::sys_io_uring_enter;
using ioladder::uring::sys_io_uring_setup;

namespace {

// A ring with 4 SQ slots and 8 CQ slots, made and mapped here (the CQ ring
// always in its own mapping), that submits NOPs: each completes at once,
// in order, with its user_data.
class TinyRing {
  public:
    TinyRing() {
        io_uring_params p{};
        p.flags = IORING_SETUP_CQSIZE;
        p.cq_entries = 8;
        fd_ = Fd(sys_io_uring_setup(4, &p));
        if (fd_.get() < 0) fail_errno("io_uring_setup");
        p_ = p;
        sq_ = map(p.sq_off.array + p.sq_entries * sizeof(unsigned), IORING_OFF_SQ_RING, sq_len_);
        cq_ = map(p.cq_off.cqes + p.cq_entries * sizeof(io_uring_cqe), IORING_OFF_CQ_RING, cq_len_);
        sqes_ = static_cast<io_uring_sqe*>(
            map(p.sq_entries * sizeof(io_uring_sqe), IORING_OFF_SQES, sqes_len_));
    }
    ~TinyRing() {
        ::munmap(sqes_, sqes_len_);
        ::munmap(cq_, cq_len_);
        ::munmap(sq_, sq_len_);
    }
    TinyRing(const TinyRing&) = delete;
    TinyRing& operator=(const TinyRing&) = delete;

    unsigned cq_entries() const { return p_.cq_entries; }

    CqView view() {
        return CqView{at(cq_, p_.cq_off.head), at(cq_, p_.cq_off.tail),
                      *at(cq_, p_.cq_off.ring_mask),
                      reinterpret_cast<io_uring_cqe*>(static_cast<char*>(cq_) + p_.cq_off.cqes)};
    }
    unsigned cq_head() const { return load(at(cq_, p_.cq_off.head)); }
    unsigned cq_tail() const { return load(at(cq_, p_.cq_off.tail)); }
    // The kernel holds CQEs that found no free slot (IORING_FEAT_NODROP).
    bool overflowing() const { return load(at(sq_, p_.sq_off.flags)) & IORING_SQ_CQ_OVERFLOW; }
    // CQEs the kernel had to drop.
    unsigned dropped() const { return load(at(cq_, p_.cq_off.overflow)); }

    // Submits n (at most 4) NOPs with user_data first, first + 1, ...
    void nops(unsigned n, uint64_t first) {
        unsigned* tail = at(sq_, p_.sq_off.tail);
        unsigned t = *tail;
        const unsigned mask = *at(sq_, p_.sq_off.ring_mask);
        for (unsigned k = 0; k < n; ++k, ++t) {
            io_uring_sqe& s = sqes_[t & mask];
            std::memset(&s, 0, sizeof s);
            s.opcode = IORING_OP_NOP;
            s.user_data = first + k;
            at(sq_, p_.sq_off.array)[t & mask] = t & mask;
        }
        std::atomic_ref<unsigned>(*tail).store(t, std::memory_order_release);
        int r;
        do {
            r = sys_io_uring_enter(fd_.get(), n, 0, 0);
        } while (r < 0 && errno == EINTR);
        if (r < 0) fail_errno("io_uring_enter");
        REQUIRE(r == static_cast<int>(n));
    }

  private:
    void* map(std::size_t len, off_t what, std::size_t& len_out) {
        void* m = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_.get(),
                         what);
        if (m == MAP_FAILED) fail_errno("mmap of the io_uring rings");
        len_out = len;
        return m;
    }
    static unsigned* at(void* base, unsigned offset) {
        return reinterpret_cast<unsigned*>(static_cast<char*>(base) + offset);
    }
    static unsigned load(const unsigned* p) {
        return std::atomic_ref<unsigned>(*const_cast<unsigned*>(p)).load(std::memory_order_acquire);
    }

    Fd fd_;
    io_uring_params p_{};
    void *sq_ = nullptr, *cq_ = nullptr;
    io_uring_sqe* sqes_ = nullptr;
    std::size_t sq_len_ = 0, cq_len_ = 0, sqes_len_ = 0;
};

std::size_t reap_into(const CqView& cq, std::vector<io_uring_cqe>& out) {
    STEP("reap");
    return reap(cq, out);
}

// A CQ ring of 8 slots laid out in plain memory, on three pages: head,
// tail, and the slots (followed by 8 more CQEs marked kPoison, which a
// reader that forgets the mask finds instead).
constexpr uint64_t kPoison = 0xdead'dead'dead'deadULL;
struct FakeCq {
    FakeCq() {
        void* m =
            ::mmap(nullptr, 3 * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) fail_errno("mmap");
        mem = static_cast<char*>(m);
        for (unsigned i = 0; i < 16; ++i)
            slots()[i] = io_uring_cqe{kPoison, -1, 0};
    }
    ~FakeCq() { ::munmap(mem, 3 * kPage); }
    FakeCq(const FakeCq&) = delete;
    FakeCq& operator=(const FakeCq&) = delete;

    static constexpr std::size_t kPage = 4096;
    char* mem;
    unsigned& head() { return *reinterpret_cast<unsigned*>(mem); }
    unsigned& tail() { return *reinterpret_cast<unsigned*>(mem + kPage); }
    io_uring_cqe* slots() { return reinterpret_cast<io_uring_cqe*>(mem + 2 * kPage); }
    CqView view() { return CqView{&head(), &tail(), 7, slots()}; }

    // Puts CQEs with user_data first, first + 1, ... at counters from..to-1,
    // and sets head = from, tail = to.
    void fill(unsigned from, unsigned to, uint64_t first) {
        for (unsigned c = from; c != to; ++c)
            slots()[c & 7] = io_uring_cqe{first + (c - from), static_cast<int32_t>(c), 0};
        head() = from;
        tail() = to;
    }
};

} // namespace

TEST_CASE("three thousand NOPs through an eight-slot ring are each reaped once and in order",
          "[exercise][ch06]") {
    IOLADDER_NEEDS_URING();
    TinyRing ring;
    REQUIRE(ring.cq_entries() == 8);
    const CqView cq = ring.view();
    const std::size_t room[] = {1, 3, 8, 2, 5, 4};
    uint64_t submitted = 0, expected = 1;
    for (unsigned round = 0; submitted < 3000; ++round) {
        const unsigned k = 1 + round % 4; // NOPs this round
        ring.nops(k, submitted + 1);
        submitted += k;
        INFO("round " << round << ": NOPs " << submitted - k + 1 << " to " << submitted);
        // Reap them all, with spans of different sizes.
        for (int call = 0; expected <= submitted; ++call) {
            REQUIRE(call < 10); // each call must take at least one of them
            std::vector<io_uring_cqe> out(room[(round + static_cast<unsigned>(call)) % 6]);
            std::size_t n = reap_into(cq, out);
            INFO("reap() into room for " << out.size() << " returned " << n);
            REQUIRE(n >= 1);
            REQUIRE(n <= out.size());
            for (std::size_t i = 0; i < n; ++i) {
                INFO("CQE " << i << " of the call");
                REQUIRE(out[i].user_data == expected);
                CHECK(out[i].res == 0);
                ++expected;
            }
        }
        INFO("every slot is free again: the head must reach the tail");
        REQUIRE(ring.cq_head() == ring.cq_tail());
        REQUIRE_FALSE(ring.overflowing());
        REQUIRE(ring.dropped() == 0);
    }
    CHECK(expected == submitted + 1);
}

TEST_CASE("a batch larger than the span is reaped in parts, and the rest waits in the ring",
          "[exercise][ch06]") {
    IOLADDER_NEEDS_URING();
    TinyRing ring;
    const CqView cq = ring.view();
    ring.nops(4, 1);
    ring.nops(4, 5); // all 8 slots full
    const unsigned head0 = ring.cq_head();
    std::vector<io_uring_cqe> out(3);
    uint64_t expected = 1;
    for (std::size_t want : {3, 3, 2, 0}) {
        std::size_t n = reap_into(cq, out);
        INFO("reap() into room for 3, with " << 9 - expected << " waiting");
        REQUIRE(n == want);
        for (std::size_t i = 0; i < n; ++i)
            CHECK(out[i].user_data == expected++);
        INFO("the head moves past exactly the CQEs copied out");
        CHECK(ring.cq_head() - head0 == expected - 1);
    }
    // The freed slots take new CQEs.
    ring.nops(4, 9);
    std::vector<io_uring_cqe> all(8);
    REQUIRE(reap_into(cq, all) == 4);
    CHECK(all[0].user_data == 9);
    CHECK(all[3].user_data == 12);
    CHECK_FALSE(ring.overflowing());
}

TEST_CASE("every counter finds its slot through the mask", "[exercise][ch06]") {
    FakeCq cq;
    // Five CQEs at counters 14 .. 18: slots 6, 7, 0, 1, 2.
    cq.fill(14, 19, 200);
    std::vector<io_uring_cqe> out(8);
    std::size_t n = reap_into(cq.view(), out);
    REQUIRE(n == 5);
    for (std::size_t i = 0; i < n; ++i) {
        INFO("CQE " << i << ": user_data 0x" << std::hex << out[i].user_data
                    << " (0xdeaddeaddeaddead: read past the 8 slots, the mask was not applied)");
        CHECK(out[i].user_data == 200 + i);
    }
    CHECK(cq.head() == 19u);
}

TEST_CASE("counters wrap around at 2^32", "[exercise][ch06]") {
    FakeCq cq;
    // Five CQEs at counters 0xfffffffd .. 0x00000001: slots 5, 6, 7, 0, 1.
    cq.fill(0xfffffffdu, 2u, 100);
    std::vector<io_uring_cqe> out(8);
    std::size_t n = reap_into(cq.view(), out);
    INFO("head 0xfffffffd, tail 2: five CQEs wait");
    REQUIRE(n == 5);
    for (std::size_t i = 0; i < n; ++i)
        CHECK(out[i].user_data == 100 + i);
    CHECK(cq.head() == 2u);
}

TEST_CASE("the slots are freed by one store, after every CQE in them has been read",
          "[exercise][ch06]") {
    IOLADDER_NEEDS_ACCESS_LOG();
    FakeCq cq;
    cq.fill(6, 11, 1); // slots 6, 7, 0, 1, 2
    std::vector<io_uring_cqe> out(8);
    std::size_t n = 0;
    std::vector<AccessLog::Access> log;
    {
        // Head's page read-only (its writes are logged with head's value),
        // the slots' page closed (every read is logged).
        AccessLog watch({{cq.mem, PROT_READ, &cq.head(), 4}, {cq.slots(), PROT_NONE}});
        n = reap_into(cq.view(), out);
        log = watch.accesses();
        REQUIRE_FALSE(watch.overflowed()); // more accesses than the log holds
    }
    REQUIRE(n == 5);
    for (std::size_t i = 0; i < n; ++i)
        CHECK(out[i].user_data == 1 + i);
    int head_stores = 0, last_slot_read = -1, first_head_store = -1;
    bool read_slot[8] = {};
    std::string stores;
    int slot_reads = 0;
    for (std::size_t i = 0; i < log.size(); ++i) {
        const AccessLog::Access& a = log[i];
        if (a.page == 0 && a.write) {
            ++head_stores;
            if (first_head_store < 0) first_head_store = static_cast<int>(i);
            stores += " " + std::to_string(a.value) + " after " + std::to_string(slot_reads) +
                      " reads of the slots;";
        } else if (a.page == 1) {
            ++slot_reads;
            last_slot_read = static_cast<int>(i);
            if (a.offset / sizeof(io_uring_cqe) < 8)
                read_slot[a.offset / sizeof(io_uring_cqe)] = true;
        }
    }
    INFO(log.size() << " accesses logged; head was stored:" << stores);
    {
        INFO("one store of head per call, whatever the count");
        CHECK(head_stores == 1);
    }
    CHECK(cq.head() == 11u);
    {
        INFO("a slot read after head moved past it may already hold the kernel's next CQE");
        CHECK(first_head_store > last_slot_read);
    }
    for (unsigned slot : {6u, 7u, 0u, 1u, 2u})
        CHECK(read_slot[slot]);

    // Nothing waiting: nothing to free, and no store.
    {
        AccessLog watch({{cq.mem, PROT_READ, &cq.head(), 4}});
        n = reap_into(cq.view(), out);
        log = watch.accesses();
        REQUIRE_FALSE(watch.overflowed()); // more accesses than the log holds
    }
    CHECK(n == 0);
    INFO("a call that copies nothing must not store head");
    CHECK(log.empty());
    CHECK(cq.head() == 11u);
}
