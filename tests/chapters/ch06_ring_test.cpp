// ch06_ring_test.cpp: the ring wrapper of chapter 06 (ring.hpp), on the
// kernel's own rings, with NOPs.
//
// A NOP completes while io_uring_enter submits it, so no test here waits in
// the kernel: each reaps what is there, at most two seconds, with 1 ms
// pauses. Tiny rings make the interesting cases cheap: 10 000 submissions
// through 4 slots wrap head and tail 2 500 times; 20 NOPs overflow an
// 8-entry CQ.
//
// Where io_uring_setup fails (no io_uring, kernel.io_uring_disabled, a
// seccomp filter), every case is skipped with the reason.
#include "catch_compat.hpp"
#include "ring.hpp"

#include <cerrno>
#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

using ioladder::uring::Ring;
using ioladder::uring::unavailable_reason;

namespace {

// A ring, or nullptr and why io_uring_setup failed. A failure after setup
// (an mmap) is a failure of the wrapper, not of the machine: it throws.
std::unique_ptr<Ring> open_ring(const Ring::Setup& setup, std::string& why) {
    try {
        return std::make_unique<Ring>(setup);
    } catch (const std::system_error& e) {
        if (std::string(e.what()).find("io_uring_setup") == std::string::npos) throw;
        why = unavailable_reason(e.code().value());
        return nullptr;
    }
}

Ring::Setup small(unsigned entries, unsigned cq_entries = 0, bool separate_cq_map = false) {
    Ring::Setup s;
    s.entries = entries;
    s.cq_entries = cq_entries;
    s.separate_cq_map = separate_cq_map;
    return s;
}

// True when this process maps a CQ ring on its own: a mapping of an
// io_uring at offset IORING_OFF_CQ_RING (0x8000000), in /proc/self/maps.
bool cq_ring_mapped_alone() {
    std::ifstream maps("/proc/self/maps");
    for (std::string line; std::getline(maps, line);)
        if (line.find("io_uring") != std::string::npos &&
            line.find(" 08000000 ") != std::string::npos)
            return true;
    return false;
}

// A NOP tagged `tag`, or false when the SQ has no free slot.
bool add_nop(Ring& ring, uint64_t tag, unsigned char flags = 0) {
    io_uring_sqe* s = ring.get_sqe();
    if (!s) return false;
    s->opcode = IORING_OP_NOP;
    s->flags = flags;
    s->user_data = tag;
    return true;
}

// Reaps until `want` CQEs have come, for at most two seconds. submit()
// with nothing to submit enters the kernel only to bring in overflowed CQEs.
std::vector<io_uring_cqe> reap(Ring& ring, size_t want) {
    std::vector<io_uring_cqe> got;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (got.size() < want && std::chrono::steady_clock::now() < deadline) {
        if (ring.for_each_cqe([&](const io_uring_cqe& c) { got.push_back(c); }) == 0) {
            ring.submit();
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    }
    return got;
}

// 10 000 NOPs in batches of 1 to 4 through a 4-entry SQ. Each batch is a
// chain (IOSQE_IO_LINK on all but its last), the one case where io_uring
// promises completion order: so every tag comes back once, in order.
void check_wraparound(Ring& ring) {
    REQUIRE(ring.sq_entries() == 4);
    uint64_t next = 0, expected = 0;
    long batches = 0;
    while (next < 10'000) {
        unsigned n = static_cast<unsigned>(batches++ % 4) + 1;
        for (unsigned i = 0; i < n; ++i)
            REQUIRE(add_nop(ring, next++, i + 1 < n ? IOSQE_IO_LINK : 0));
        REQUIRE(ring.submit() == static_cast<int>(n));
        REQUIRE(ring.sq_pending() == 0);
        for (const io_uring_cqe& c : reap(ring, n)) {
            INFO("batch " << batches << " of " << n);
            REQUIRE(c.user_data == expected);
            REQUIRE(c.res == 0);
            ++expected;
        }
        REQUIRE(expected == next); // none missing, none extra
    }
    CHECK(ring.cq_dropped() == 0);
}

// 5 batches of 4 NOPs into an 8-entry CQ without reaping: 12 do not fit.
// With IORING_FEAT_NODROP the kernel keeps them and says so in the SQ
// flags; each later submit() flushes as many as there is room for.
void check_overflow(Ring& ring) {
    REQUIRE(ring.cq_entries() == 8);
    uint64_t next = 0;
    bool overflowed = false;
    for (int batch = 0; batch < 5; ++batch) {
        for (int i = 0; i < 4; ++i)
            REQUIRE(add_nop(ring, next++));
        int r = ring.submit();
        // io_uring_enter(2): EBUSY may mean "overflowed CQEs could not be
        // flushed, reap first"; this kernel may say so instead of taking more.
        if (r == -EBUSY) break;
        REQUIRE(r == 4);
        overflowed = overflowed || ring.cq_overflow_pending();
    }
    CHECK(overflowed);
    unsigned first = ring.for_each_cqe([](const io_uring_cqe&) {});
    CHECK(first == 8); // a full CQ, nothing more in it
    long calls = ring.enter_calls();
    ring.submit(); // nothing to submit: this call brings in what overflowed
    CHECK(ring.enter_calls() == calls + 1);
    std::vector<io_uring_cqe> rest = reap(ring, next - first);
    CHECK(first + rest.size() == next);
    CHECK_FALSE(ring.cq_overflow_pending());
    CHECK(ring.cq_dropped() == 0);
    std::vector<int> seen(next, 0);
    for (const io_uring_cqe& c : rest)
        if (c.user_data < next) ++seen[c.user_data];
    for (uint64_t tag = first; tag < next; ++tag) {
        INFO("tag " << tag);
        CHECK(seen[tag] == 1);
    }
}

// A NOP with an opcode no kernel has (0xff) in the middle of 6.
void fill_with_bad_third(Ring& ring) {
    for (uint64_t tag = 0; tag < 6; ++tag) {
        io_uring_sqe* s = ring.get_sqe();
        REQUIRE(s);
        s->opcode = tag == 2 ? 0xff : IORING_OP_NOP;
        s->user_data = tag;
    }
    REQUIRE(ring.sq_pending() == 6);
}

void check_results(const std::vector<io_uring_cqe>& got, uint64_t from, uint64_t to) {
    REQUIRE(got.size() == to - from);
    for (const io_uring_cqe& c : got) {
        INFO("tag " << c.user_data);
        REQUIRE(c.user_data >= from);
        REQUIRE(c.user_data < to);
        CHECK(c.res == (c.user_data == 2 ? -EINVAL : 0));
    }
}

} // namespace

TEST_CASE("head and tail wrap around a 4-entry ring over 10 000 NOPs, each completed once and "
          "linked batches in order",
          "[ch06]") {
    std::string why;
    auto ring = open_ring(small(4), why);
    if (!ring) IOLADDER_SKIP(why);
    CHECK(cq_ring_mapped_alone() == !(ring->features() & IORING_FEAT_SINGLE_MMAP));
    check_wraparound(*ring);
}

TEST_CASE("a full CQ keeps the completions that do not fit (IORING_FEAT_NODROP) and the next "
          "submit brings them in",
          "[ch06]") {
    std::string why;
    auto ring = open_ring(small(4, 8), why);
    if (!ring) IOLADDER_SKIP(why);
    if (!(ring->features() & IORING_FEAT_NODROP))
        IOLADDER_SKIP("no IORING_FEAT_NODROP (a kernel before 5.5): a full CQ loses completions");
    check_overflow(*ring);
}

TEST_CASE("the CQ ring in a mapping of its own (separate_cq_map) works like the single mapping",
          "[ch06]") {
    std::string why;
    auto ring = open_ring(small(4, 8, true), why);
    if (!ring) IOLADDER_SKIP(why);
    CHECK(cq_ring_mapped_alone());
    check_wraparound(*ring);
    if (ring->features() & IORING_FEAT_NODROP) {
        auto fresh = open_ring(small(4, 8, true), why);
        REQUIRE(fresh);
        check_overflow(*fresh);
    }
}

TEST_CASE("an SQE that fails at submission ends the batch: io_uring_enter takes fewer than asked "
          "and the next submit sends the rest",
          "[ch06]") {
    std::string why;
    auto ring = open_ring(small(8), why);
    if (!ring) IOLADDER_SKIP(why);
    // The kernel rejects an unknown opcode while submitting it, posts its
    // CQE (-EINVAL) and stops there. (A bad fd would not do: that fails
    // when the operation runs, and the batch goes on.)
    fill_with_bad_third(*ring);
    CHECK(ring->submit() == 3); // 0, 1 and the failed 2
    CHECK(ring->sq_pending() == 3);
    check_results(reap(*ring, 3), 0, 3);
    CHECK(ring->submit() == 3); // still in the SQ: submitted now
    CHECK(ring->sq_pending() == 0);
    check_results(reap(*ring, 3), 3, 6);
}

TEST_CASE("with IORING_SETUP_SUBMIT_ALL the batch goes on past an SQE that fails", "[ch06]") {
    std::string why;
    Ring::Setup setup = small(8);
    setup.flags = IORING_SETUP_SUBMIT_ALL; // Linux 5.18
    auto ring = open_ring(setup, why);
    if (!ring) IOLADDER_SKIP(why);
    fill_with_bad_third(*ring);
    CHECK(ring->submit() == 6);
    CHECK(ring->sq_pending() == 0);
    check_results(reap(*ring, 6), 0, 6);
}

TEST_CASE("get_sqe returns nullptr when every SQ slot is taken, and a slot again once the "
          "kernel has consumed them",
          "[ch06]") {
    std::string why;
    auto ring = open_ring(small(4), why);
    if (!ring) IOLADDER_SKIP(why);
    for (uint64_t tag = 0; tag < 4; ++tag)
        REQUIRE(add_nop(*ring, tag));
    CHECK(ring->sq_pending() == 4);
    CHECK(ring->get_sqe() == nullptr);
    CHECK(ring->get_sqe() == nullptr); // and it stays full: nothing was taken
    CHECK(ring->submit() == 4);
    CHECK(ring->sq_pending() == 0);
    // The CQEs are not reaped yet: SQ slots do not wait for them.
    for (uint64_t tag = 4; tag < 8; ++tag)
        CHECK(add_nop(*ring, tag));
    CHECK(ring->get_sqe() == nullptr);
    CHECK(ring->submit() == 4);
    CHECK(reap(*ring, 8).size() == 8);
}

TEST_CASE("a ring the kernel refuses throws std::system_error naming io_uring_setup, and "
          "unavailable_reason says what to check",
          "[ch06]") {
    std::string why;
    if (!open_ring(small(4), why)) IOLADDER_SKIP(why);
    Ring::Setup bad = small(4);
    bad.flags = 1u << 31; // no such setup flag
    try {
        Ring ring(bad);
        FAIL("io_uring_setup accepted an unknown flag");
    } catch (const std::system_error& e) {
        CHECK(e.code().value() == EINVAL);
        CHECK_THAT(e.what(), ioladder::test::contains_text("io_uring_setup"));
    }
    CHECK_THAT(unavailable_reason(EPERM), ioladder::test::contains_text("seccomp"));
    CHECK_THAT(unavailable_reason(ENOSYS), ioladder::test::contains_text("5.1"));
    CHECK_THAT(unavailable_reason(ENOMEM), ioladder::test::contains_text("RLIMIT_MEMLOCK"));
}
