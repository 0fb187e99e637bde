// Grades the ch06 cancel_tracker exercise (chapters/06-uring/exercises/cancel_tracker.hpp):
// every combination of results the kernel can report, fed in both orders
// (and a multishot target's CQEs among them), then real cancellations on a
// ring: a receive stopped while it waits, one that finished first, and a
// multishot receive stopped after two arrivals.
#include "cancel_tracker.hpp"
#include "catch_compat.hpp"
#include "ch06_uring_support.hpp"
#include "enum_names.hpp"
#include "ring.hpp"
#include "support.hpp"

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

using namespace ioladder::test;
using namespace ioladder::test::uring;
using ioladder::ch06::CancelTracker;
using ioladder::ch06::Outcome;

IOLADDER_ENUM_NAMES(ioladder::ch06::Outcome, pending, cancelled, completed)

namespace {

constexpr uint64_t kTarget = 0x7a49'e700, kCancel = 0xca9c'e100, kOther = 0x07e4'0000;

io_uring_cqe cqe(uint64_t user_data, int res, uint32_t flags = 0) {
    return io_uring_cqe{user_data, res, flags};
}

std::string describe(const std::vector<io_uring_cqe>& cqes) {
    std::string s;
    for (const io_uring_cqe& c : cqes) {
        s += s.empty() ? "" : ", then ";
        s += c.user_data == kTarget   ? "target "
             : c.user_data == kCancel ? "cancel "
                                      : "another operation ";
        s += ioladder::uring::result_name(c.res);
        if (c.flags & IORING_CQE_F_MORE) s += " (F_MORE)";
    }
    return s;
}

struct Expected {
    Outcome outcome;
    int result;        // the target's
    int cancel_result; // the cancel's
};

// Feeds the CQEs, in this order, to a new tracker: only the last one may
// release the memory, and then the outcome is as expected.
void feed(const std::vector<io_uring_cqe>& cqes, const Expected& want) {
    INFO("the CQEs: " << describe(cqes));
    CancelTracker tracker(kTarget, kCancel);
    for (std::size_t i = 0; i < cqes.size(); ++i) {
        STEP("on_cqe");
        bool release = tracker.on_cqe(cqes[i]);
        INFO("on_cqe() for CQE " << i + 1 << " of " << cqes.size() << " returned " << release);
        if (i + 1 < cqes.size()) {
            INFO("the kernel still holds an operation: too early to release its memory");
            CHECK_FALSE(release);
            CHECK(tracker.outcome() == Outcome::pending);
        } else {
            INFO("the kernel holds neither operation now: this is the moment to release");
            CHECK(release);
        }
    }
    CHECK(tracker.outcome() == want.outcome);
    INFO("result() is the target's res; cancel_result() the cancel's");
    CHECK(ioladder::uring::result_name(tracker.result()) ==
          ioladder::uring::result_name(want.result));
    CHECK(ioladder::uring::result_name(tracker.cancel_result()) ==
          ioladder::uring::result_name(want.cancel_result));
}

void both_orders(int target_res, int cancel_res, Outcome outcome) {
    const Expected want{outcome, target_res, cancel_res};
    feed({cqe(kTarget, target_res), cqe(kCancel, cancel_res)}, want);
    feed({cqe(kCancel, cancel_res), cqe(kTarget, target_res)}, want);
}

void submit_cancel(Ring& ring) {
    io_uring_sqe* s = next_sqe(ring);
    s->opcode = IORING_OP_ASYNC_CANCEL;
    s->addr = kTarget;
    s->user_data = kCancel;
}

// A receive (the target) on `fd` into buf, and right behind it, for the same
// io_uring_enter, the cancel aimed at it.
void submit_recv_and_cancel(Ring& ring, int fd, char* buf, unsigned len) {
    io_uring_sqe* s = next_sqe(ring);
    s->opcode = IORING_OP_RECV;
    s->fd = fd;
    s->addr = reinterpret_cast<uint64_t>(buf);
    s->len = len;
    s->user_data = kTarget;
    submit_cancel(ring);
}

// Collects `more` CQEs after those already `got`, and feeds all of them, in
// the order they came, to a new tracker: only the last may release.
CancelTracker track(Ring& ring, std::vector<io_uring_cqe> got, std::size_t more) {
    std::vector<io_uring_cqe> rest = collect(ring, more);
    REQUIRE(rest.size() == more);
    got.insert(got.end(), rest.begin(), rest.end());
    INFO("the CQEs, in the order they came: " << describe(got));
    CancelTracker tracker(kTarget, kCancel);
    for (std::size_t i = 0; i < got.size(); ++i) {
        STEP("on_cqe");
        bool release = tracker.on_cqe(got[i]);
        INFO("on_cqe() for CQE " << i + 1 << " of " << got.size());
        CHECK(release == (i + 1 == got.size()));
    }
    return tracker;
}

} // namespace

TEST_CASE("a stopped target is released at the second CQE, whichever comes first",
          "[exercise][ch06]") {
    both_orders(-ECANCELED, 0, Outcome::cancelled);
}

TEST_CASE("a target that finished before the cancel found it keeps its result",
          "[exercise][ch06]") {
    both_orders(17, -ENOENT, Outcome::completed);          // a receive got 17 bytes
    both_orders(0, -ENOENT, Outcome::completed);           // ... or the peer's FIN
    both_orders(-ECONNRESET, -ENOENT, Outcome::completed); // ... or failed by itself
}

TEST_CASE("a cancel that reports EALREADY has not cancelled: the target's own CQE decides",
          "[exercise][ch06]") {
    both_orders(42, -EALREADY, Outcome::completed);         // it ran to the end
    both_orders(-EINTR, -EALREADY, Outcome::completed);     // interrupted, an error of its own
    both_orders(-ECANCELED, -EALREADY, Outcome::cancelled); // stopped after all
}

TEST_CASE("a target stopped by something else is cancelled even when the cancel found nothing",
          "[exercise][ch06]") {
    both_orders(-ECANCELED, -ENOENT, Outcome::cancelled);
}

TEST_CASE("a multishot target is over only at its CQE without IORING_CQE_F_MORE",
          "[exercise][ch06]") {
    const uint32_t more = IORING_CQE_F_MORE | IORING_CQE_F_BUFFER;
    feed({cqe(kTarget, 10, more), cqe(kCancel, 0), cqe(kTarget, -ECANCELED)},
         {Outcome::cancelled, -ECANCELED, 0});
    feed({cqe(kCancel, 0), cqe(kTarget, 5, more), cqe(kTarget, 6, more), cqe(kTarget, -ECANCELED)},
         {Outcome::cancelled, -ECANCELED, 0});
    feed({cqe(kTarget, 8, more), cqe(kTarget, 0), cqe(kCancel, -ENOENT)},
         {Outcome::completed, 0, -ENOENT});
}

TEST_CASE("CQEs of other operations change nothing", "[exercise][ch06]") {
    feed({cqe(kOther, 0), cqe(kTarget, -ECANCELED), cqe(kOther + 1, -ECANCELED),
          cqe(kOther + 2, -ENOENT), cqe(kCancel, 0)},
         {Outcome::cancelled, -ECANCELED, 0});
    feed({cqe(kCancel, -ENOENT), cqe(kOther, 3), cqe(kTarget, 12)},
         {Outcome::completed, 12, -ENOENT});
}

TEST_CASE("a receive with no data to wait for is cancelled: two CQEs, and release at the second",
          "[exercise][ch06]") {
    IOLADDER_NEEDS_URING();
    char buf[64];
    auto [ours, peer] = stream_pair();
    Ring ring(Ring::Setup{});
    submit_recv_and_cancel(ring, ours.get(), buf, sizeof buf);
    CancelTracker tracker = track(ring, {}, 2);
    CHECK(tracker.outcome() == Outcome::cancelled);
    CHECK(ioladder::uring::result_name(tracker.result()) == "-ECANCELED");
    CHECK(tracker.cancel_result() == 0);
}

TEST_CASE("a receive that finished before its cancel arrived keeps its bytes", "[exercise][ch06]") {
    IOLADDER_NEEDS_URING();
    char buf[64];
    auto [ours, peer] = stream_pair();
    REQUIRE(::send(peer.get(), "xyz", 3, MSG_NOSIGNAL) == 3);
    Ring ring(Ring::Setup{});
    submit_recv_and_cancel(ring, ours.get(), buf, sizeof buf);
    CancelTracker tracker = track(ring, {}, 2);
    CHECK(tracker.outcome() == Outcome::completed);
    CHECK(tracker.result() == 3);
    CHECK(ioladder::uring::result_name(tracker.cancel_result()) == "-ENOENT");
    CHECK(bytes(buf, 3) == "xyz");
}

TEST_CASE("a multishot receive cancelled after two arrivals is released at its last CQE",
          "[exercise][ch06]") {
    IOLADDER_NEEDS_URING();
    auto [ours, peer] = stream_pair();
    Ring ring(Ring::Setup{});
    Buffers buffers(8, 64);
    if (auto why = no_multishot_recv(ring, buffers, 5)) IOLADDER_SKIP(*why);
    io_uring_sqe* s = next_sqe(ring);
    s->opcode = IORING_OP_RECV;
    s->fd = ours.get();
    s->flags = IOSQE_BUFFER_SELECT;
    s->buf_group = 5;
    s->ioprio = IORING_RECV_MULTISHOT;
    s->user_data = kTarget;
    std::vector<io_uring_cqe> got;
    for (const char* message : {"one", "two"}) {
        REQUIRE(::send(peer.get(), message, 3, MSG_NOSIGNAL) == 3);
        std::vector<io_uring_cqe> more = collect(ring, 1);
        REQUIRE(more.size() == 1);
        REQUIRE((more[0].flags & IORING_CQE_F_MORE) != 0);
        got.push_back(more[0]);
    }
    submit_cancel(ring);
    CancelTracker tracker = track(ring, got, 2);
    CHECK(tracker.outcome() == Outcome::cancelled);
    CHECK(tracker.cancel_result() == 0);
}
