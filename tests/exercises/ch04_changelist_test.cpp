// Grades the ch04 changelist exercise (chapters/04-kqueue/exercises/changelist.hpp).
// Every batch taken is handed to a real kqueue (the Linux teaching layer, or
// the system's), which answers a change that cannot be made with EV_ERROR:
// the tests require that none comes back, and then look at what the kernel
// reports to see which filters it holds.
#include "catch_compat.hpp"
#include "ch04_kqueue_support.hpp"
#include "changelist.hpp"

#include <map>
#include <memory>
#include <random>

using namespace ioladder::test;
using ioladder::ch04::Changelist;

namespace {

// Takes the changes and applies them; fails on any EV_ERROR answer. Returns
// the changes taken.
std::vector<struct kevent> take_and_apply(Changelist& list, int kq) {
    STEP("take");
    std::vector<struct kevent> changes = list.take();
    for (const auto& e : kevent_call(kq, changes)) {
        INFO("ident " << e.ident << " filter " << e.filter << " errno " << e.data);
        CHECK((e.flags & EV_ERROR) == 0);
    }
    return changes;
}

int count_changes(const std::vector<struct kevent>& changes, uintptr_t fd, short filter,
                  unsigned short flags) {
    int n = 0;
    for (const auto& c : changes)
        n += c.ident == fd && c.filter == filter && c.flags == flags;
    return n;
}

} // namespace

TEST_CASE("a new want is one EV_ADD with its udata, and wanting it again costs nothing",
          "[exercise][ch04]") {
    Fd kq = new_kqueue();
    StreamPair p;
    Changelist list;
    int conn = 0;
    STEP("want read on");
    list.want(p.a.get(), EVFILT_READ, true, &conn);
    auto first = take_and_apply(list, kq.get());
    REQUIRE(first.size() == 1);
    CHECK(first[0].ident == static_cast<uintptr_t>(p.a.get()));
    CHECK(first[0].filter == EVFILT_READ);
    CHECK(first[0].flags == EV_ADD);
    CHECK(first[0].udata == &conn);
    CHECK(list.registered(p.a.get(), EVFILT_READ));
    list.want(p.a.get(), EVFILT_READ, true, &conn); // already in the kernel
    CHECK(take_and_apply(list, kq.get()).empty());
    p.say("x");
    auto evs = kevent_call(kq.get(), {});
    REQUIRE(count_events(evs, p.a.get(), EVFILT_READ) == 1);
    CHECK(evs[0].udata == &conn);
}

TEST_CASE("a change of mind before the wait is no change, and nothing is deleted that the "
          "kernel does not have",
          "[exercise][ch04]") {
    Fd kq = new_kqueue();
    StreamPair p;
    Changelist list;
    STEP("want write on, then off, then take");
    list.want(p.a.get(), EVFILT_WRITE, true);
    list.want(p.a.get(), EVFILT_WRITE, false);
    list.want(p.a.get(), EVFILT_READ, false); // never wanted: nothing to delete
    CHECK(take_and_apply(list, kq.get()).empty());
    CHECK_FALSE(list.registered(p.a.get(), EVFILT_WRITE));
    STEP("want write on, take; off then on again, take");
    list.want(p.a.get(), EVFILT_WRITE, true);
    CHECK(count_changes(take_and_apply(list, kq.get()), p.a.get(), EVFILT_WRITE, EV_ADD) == 1);
    list.want(p.a.get(), EVFILT_WRITE, false);
    list.want(p.a.get(), EVFILT_WRITE, true);
    CHECK(take_and_apply(list, kq.get()).empty()); // the kernel has it, as wanted
    CHECK(count_events(kevent_call(kq.get(), {}), p.a.get(), EVFILT_WRITE) == 1);
}

TEST_CASE("read and write are separate filters: turning one off leaves the other alone",
          "[exercise][ch04]") {
    Fd kq = new_kqueue();
    StreamPair p;
    Changelist list;
    int conn = 0;
    list.want(p.a.get(), EVFILT_READ, true, &conn);
    list.want(p.a.get(), EVFILT_WRITE, true, &conn);
    auto both = take_and_apply(list, kq.get());
    CHECK(both.size() == 2);
    CHECK(count_changes(both, p.a.get(), EVFILT_READ, EV_ADD) == 1);
    CHECK(count_changes(both, p.a.get(), EVFILT_WRITE, EV_ADD) == 1);
    list.want(p.a.get(), EVFILT_WRITE, false);
    auto off = take_and_apply(list, kq.get());
    REQUIRE(off.size() == 1);
    CHECK(count_changes(off, p.a.get(), EVFILT_WRITE, EV_DELETE) == 1);
    CHECK(list.registered(p.a.get(), EVFILT_READ));
    CHECK_FALSE(list.registered(p.a.get(), EVFILT_WRITE));
    p.say("x");
    auto evs = kevent_call(kq.get(), {});
    CHECK(count_events(evs, p.a.get(), EVFILT_READ) == 1);
    CHECK(count_events(evs, p.a.get(), EVFILT_WRITE) == 0);
}

TEST_CASE("a filter the kernel has with another udata is added again to change it",
          "[exercise][ch04]") {
    Fd kq = new_kqueue();
    StreamPair p;
    Changelist list;
    int first = 1, second = 2;
    list.want(p.a.get(), EVFILT_READ, true, &first);
    take_and_apply(list, kq.get());
    list.want(p.a.get(), EVFILT_READ, true, &second);
    auto again = take_and_apply(list, kq.get());
    REQUIRE(again.size() == 1);
    CHECK(again[0].flags == EV_ADD);
    CHECK(again[0].udata == &second);
    p.say("x");
    auto evs = kevent_call(kq.get(), {});
    REQUIRE(evs.size() == 1);
    CHECK(evs[0].udata == &second);
}

TEST_CASE("closing a descriptor drops its pending changes, and a new descriptor with the same "
          "number starts with no filters",
          "[exercise][ch04]") {
    Fd kq = new_kqueue();
    Changelist list;
    int old_conn = 0, new_conn = 0;
    auto old_pair = std::make_unique<StreamPair>();
    const int number = old_pair->a.get();
    list.want(number, EVFILT_READ, true, &old_conn);
    take_and_apply(list, kq.get());
    list.want(number, EVFILT_WRITE, true, &old_conn); // pending when the connection ends
    STEP("closing");
    list.closing(number);
    old_pair.reset(); // closes both ends: the kernel drops the read filter
    CHECK_FALSE(list.registered(number, EVFILT_READ));
    CHECK(take_and_apply(list, kq.get()).empty()); // nothing for a descriptor that is gone

    StreamPair p; // the lowest free numbers: the old one comes back
    REQUIRE(p.a.get() == number);
    list.want(number, EVFILT_READ, true, &new_conn);
    auto fresh = take_and_apply(list, kq.get());
    REQUIRE(fresh.size() == 1); // not "already registered": that was the old descriptor
    CHECK(fresh[0].flags == EV_ADD);
    CHECK(fresh[0].udata == &new_conn);
    p.say("x");
    auto evs = kevent_call(kq.get(), {});
    CHECK(count_events(evs, number, EVFILT_READ) == 1);
    CHECK(count_events(evs, number, EVFILT_WRITE) == 0); // the old pending EV_ADD never landed
}

TEST_CASE("after many changes of mind on many connections the kernel holds exactly what is "
          "wanted",
          "[exercise][ch04]") {
    Fd kq = new_kqueue();
    std::vector<StreamPair> pairs(12);
    Changelist list;
    std::map<std::pair<int, short>, bool> wanted;
    std::mt19937 rng(4);
    int batches = 0, changes = 0;
    for (int step = 0; step < 600; ++step) {
        const StreamPair& p = pairs[rng() % pairs.size()];
        short filter = rng() % 2 ? EVFILT_READ : EVFILT_WRITE;
        bool on = rng() % 2;
        list.want(p.a.get(), filter, on, const_cast<StreamPair*>(&p));
        wanted[{p.a.get(), filter}] = on;
        if (rng() % 7 == 0) {
            changes += static_cast<int>(take_and_apply(list, kq.get()).size());
            ++batches;
        }
    }
    changes += static_cast<int>(take_and_apply(list, kq.get()).size());
    INFO(changes << " changes in " << batches + 1 << " batches");
    CHECK(changes > 0);
    for (const StreamPair& p : pairs)
        p.say("x"); // every socket readable and writable now
    auto evs = kevent_call(kq.get(), {}, 0, 64);
    for (const StreamPair& p : pairs) {
        for (short filter : {EVFILT_READ, EVFILT_WRITE}) {
            bool want = wanted.count({p.a.get(), filter}) && wanted[{p.a.get(), filter}];
            INFO("fd " << p.a.get() << " filter " << filter);
            CHECK(count_events(evs, p.a.get(), filter) == (want ? 1 : 0));
            CHECK(list.registered(p.a.get(), filter) == want);
        }
    }
}
