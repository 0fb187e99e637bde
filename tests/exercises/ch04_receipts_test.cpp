// Grades the ch04 receipts exercise (chapters/04-kqueue/exercises/receipts.hpp)
// against a real kqueue (the Linux teaching layer, or the system's).
#include "catch_compat.hpp"
#include "ch04_kqueue_support.hpp"
#include "receipts.hpp"

using namespace ioladder::test;
using ioladder::ch04::apply_all;

namespace {

std::vector<int> apply_batch(int kq, const std::vector<struct kevent>& changes) {
    STEP("apply_all with " + std::to_string(changes.size()) + " changes");
    return apply_all(kq, changes);
}

// A descriptor number that is closed now (nothing opens a descriptor before
// the test uses it).
int closed_number() {
    int fds[2];
    if (::pipe(fds) < 0) fail_errno("pipe");
    ::close(fds[0]);
    ::close(fds[1]);
    return fds[1];
}

} // namespace

TEST_CASE("every change gets its own result, in order: 0 for success, the errno for a failure",
          "[exercise][ch04]") {
    Fd kq = new_kqueue();
    StreamPair p;
    const int gone = closed_number();
    std::vector<struct kevent> batch = {
        change(p.a.get(), EVFILT_READ, EV_ADD),           // fine
        change(p.a.get(), EVFILT_WRITE, EV_DELETE),       // never added: ENOENT
        change(gone, EVFILT_READ, EV_ADD),                // not a descriptor: EBADF
        change(9, EVFILT_USER, 0, nullptr, NOTE_TRIGGER), // no such user event: ENOENT
        change(10, EVFILT_USER, EV_ADD | EV_CLEAR),       // fine
    };
    CHECK(apply_batch(kq.get(), batch) == std::vector<int>{0, ENOENT, EBADF, ENOENT, 0});
}

TEST_CASE("events that were pending stay for the loop's next kevent()", "[exercise][ch04]") {
    Fd kq = new_kqueue();
    StreamPair p;
    kevent_call(kq.get(), {change(p.a.get(), EVFILT_READ, EV_ADD)});
    p.say("x"); // the read event is pending now
    CHECK(apply_batch(kq.get(), {change(p.a.get(), EVFILT_WRITE, EV_ADD)}) == std::vector<int>{0});
    auto evs = kevent_call(kq.get(), {});
    CHECK(count_events(evs, p.a.get(), EVFILT_READ) == 1);
    CHECK(count_events(evs, p.a.get(), EVFILT_WRITE) == 1);
}

TEST_CASE("the same filter twice in one batch has two answers", "[exercise][ch04]") {
    Fd kq = new_kqueue();
    StreamPair p;
    CHECK(apply_batch(kq.get(), {change(p.a.get(), EVFILT_READ, EV_ADD),
                                 change(p.a.get(), EVFILT_READ, EV_DELETE),
                                 change(p.a.get(), EVFILT_READ, EV_DELETE)}) ==
          std::vector<int>{0, 0, ENOENT});
    p.say("x");
    CHECK(kevent_call(kq.get(), {}).empty()); // added, then deleted: nothing to report
}

TEST_CASE("a batch of 601 changes is answered whole", "[exercise][ch04]") {
    Fd kq = new_kqueue();
    std::vector<struct kevent> batch;
    for (uintptr_t id = 1000; id < 1300; ++id)
        batch.push_back(change(id, EVFILT_USER, EV_ADD));
    for (uintptr_t id = 1000; id < 1300; ++id)
        batch.push_back(change(id, EVFILT_USER, EV_DELETE));
    batch.push_back(change(1000, EVFILT_USER, EV_DELETE)); // already deleted
    std::vector<int> expected(600, 0);
    expected.push_back(ENOENT);
    CHECK(apply_batch(kq.get(), batch) == expected);
}

TEST_CASE("when kevent() itself fails, every result is its errno", "[exercise][ch04]") {
    StreamPair p;
    const int not_a_kqueue = closed_number();
    CHECK(apply_batch(not_a_kqueue, {change(p.a.get(), EVFILT_READ, EV_ADD),
                                     change(p.a.get(), EVFILT_WRITE, EV_ADD)}) ==
          std::vector<int>{EBADF, EBADF});
}
