// Grades the ch04 reason_waker exercise (chapters/04-kqueue/exercises/reason_waker.hpp)
// against a real kqueue (the Linux teaching layer, or the system's): how
// wakes coalesce, what the loop is told and when, and four threads waking at
// once without losing a reason.
#include "catch_compat.hpp"
#include "ch04_kqueue_support.hpp"
#include "reason_waker.hpp"

#include <atomic>
#include <memory>
#include <thread>

using namespace ioladder::test;
using ioladder::ch04::ReasonWaker;

namespace {

// The events of one kevent() (waiting at most `ms`) that are `w`'s.
std::vector<struct kevent> mine(int kq, const ReasonWaker& w, int ms = 0) {
    std::vector<struct kevent> out;
    for (const auto& e : kevent_call(kq, {}, ms))
        if (w.mine(e)) out.push_back(e);
    return out;
}

void wake(ReasonWaker& w, uint32_t reasons) {
    STEP("wake(" + std::to_string(reasons) + ")");
    REQUIRE(w.wake(reasons) == 0);
}

} // namespace

TEST_CASE("wakes before the loop looks come as one event with every reason", "[exercise][ch04]") {
    Fd kq = new_kqueue();
    ReasonWaker w(kq.get(), 1);
    REQUIRE(w.error() == 0);
    CHECK(mine(kq.get(), w).empty()); // added, not triggered
    wake(w, 1);
    wake(w, 4);
    wake(w, 4);
    auto evs = mine(kq.get(), w);
    REQUIRE(evs.size() == 1);
    CHECK(ReasonWaker::reasons(evs[0]) == 5u);
}

TEST_CASE("once the loop has the event it is not reported again, and the next one carries only "
          "the new reasons",
          "[exercise][ch04]") {
    Fd kq = new_kqueue();
    ReasonWaker w(kq.get(), 1);
    wake(w, 1 | 8);
    REQUIRE(mine(kq.get(), w).size() == 1);
    CHECK(mine(kq.get(), w).empty());
    CHECK(mine(kq.get(), w).empty());
    wake(w, 2);
    auto evs = mine(kq.get(), w);
    REQUIRE(evs.size() == 1);
    CHECK(ReasonWaker::reasons(evs[0]) == 2u);
    wake(w, 0); // a wake with no reason still wakes
    evs = mine(kq.get(), w);
    REQUIRE(evs.size() == 1);
    CHECK(ReasonWaker::reasons(evs[0]) == 0u);
}

TEST_CASE("another waker's event, or another filter with the same number, is not mine",
          "[exercise][ch04]") {
    Fd kq = new_kqueue();
    ReasonWaker one(kq.get(), 1), two(kq.get(), 2);
    wake(two, 16);
    auto evs = kevent_call(kq.get(), {});
    REQUIRE(evs.size() == 1);
    CHECK_FALSE(one.mine(evs[0]));
    CHECK(two.mine(evs[0]));
    CHECK(ReasonWaker::reasons(evs[0]) == 16u);
    struct kevent read_one = change(1, EVFILT_READ, 0); // descriptor 1 readable
    CHECK_FALSE(one.mine(read_one));
}

TEST_CASE("a wake from another thread ends a kevent() that waits, with its reason",
          "[exercise][ch04]") {
    Fd kq = new_kqueue();
    ReasonWaker w(kq.get(), 3);
    std::thread other([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        w.wake(32);
    });
    auto start = Clock::now();
    auto evs = mine(kq.get(), w, 3000);
    other.join();
    REQUIRE(evs.size() == 1);
    CHECK(ReasonWaker::reasons(evs[0]) == 32u);
    CHECK(Clock::now() - start < std::chrono::milliseconds(2500));
}

TEST_CASE("four threads waking at once, each with its own reason, never lose one",
          "[exercise][ch04]") {
    Fd kq = new_kqueue();
    ReasonWaker w(kq.get(), 1);
    constexpr int kThreads = 4, kRounds = 150;
    std::atomic<int> seen[kThreads] = {};
    std::atomic<int> lost{0};
    std::atomic<bool> done{false};
    std::vector<std::thread> threads;
    STEP("four threads calling wake()");
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int round = 0; round < kRounds && lost.load() == 0; ++round) {
                if (w.wake(1u << t) != 0) {
                    ++lost;
                    return;
                }
                // Wait until the loop has seen this round's wake.
                auto deadline = Clock::now() + std::chrono::milliseconds(500);
                while (seen[t].load() <= round && Clock::now() < deadline)
                    std::this_thread::yield();
                if (seen[t].load() <= round) {
                    ++lost;
                    seen[t].store(round + 1);
                }
            }
        });
    }
    std::thread loop([&] {
        while (!done.load()) {
            for (const auto& e : mine(kq.get(), w, 50))
                for (int t = 0; t < kThreads; ++t)
                    if (ReasonWaker::reasons(e) & (1u << t)) ++seen[t];
        }
    });
    for (auto& t : threads)
        t.join();
    done = true;
    loop.join();
    CHECK(lost.load() == 0);
    for (int t = 0; t < kThreads; ++t) {
        INFO("thread " << t);
        CHECK(seen[t].load() >= kRounds);
    }
}

TEST_CASE("the waker's event lives as long as the waker", "[exercise][ch04]") {
    Fd kq = new_kqueue();
    {
        STEP("construct and destroy a ReasonWaker");
        ReasonWaker w(kq.get(), 5);
        REQUIRE(w.error() == 0);
    }
    struct kevent again = change(5, EVFILT_USER, EV_RECEIPT, nullptr, NOTE_TRIGGER);
    auto answers = kevent_call(kq.get(), {again});
    REQUIRE(answers.size() == 1);
    CHECK(answers[0].data == ENOENT); // deleted with the waker
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    ::close(fds[0]);
    ::close(fds[1]);
    ReasonWaker bad(fds[0], 1); // not a kqueue
    CHECK(bad.error() == EBADF);
}
