// Grades the ch01 poll_pause exercise (chapters/01-select/exercises/poll_pause.hpp)
// with real poll() calls on socket pairs whose peer has hung up: the one
// state that poll() reports whatever `events` asks for.
#include "catch_compat.hpp"
#include "poll_pause.hpp"
#include "support.hpp"

#include <vector>

using namespace ioladder::test;
using ioladder::ch01::PollTable;

namespace {

// A socket pair whose peer has closed: poll() reports POLLHUP for it, asked or not.
struct HungUp {
    std::pair<Fd, Fd> pair = small_socketpair();
    HungUp() { pair.second.reset(); }
    int fd() const { return pair.first.get(); }
};

// One poll() over the table that never sleeps; returns how many slots reported.
int poll_now(PollTable& t) {
    STEP("poll() over the table's array");
    int n = ::poll(t.data(), t.size(), 0);
    if (n < 0) fail_errno("poll");
    return n;
}

// Puts `fd` on descriptor 0 for the scope, and the old standard input back after.
struct OnStdin {
    Fd saved{::dup(STDIN_FILENO)};
    explicit OnStdin(int fd) {
        if (saved.get() < 0 || ::dup2(fd, STDIN_FILENO) < 0) fail_errno("dup2");
    }
    ~OnStdin() { ::dup2(saved.get(), STDIN_FILENO); }
};

} // namespace

TEST_CASE("added slots are numbered in order and report what they are watched for",
          "[exercise][ch01]") {
    auto [a, peer_a] = small_socketpair();
    auto [b, peer_b] = small_socketpair();
    PollTable t;
    REQUIRE(t.add(a.get(), POLLIN) == 0);
    REQUIRE(t.size() == 1);
    REQUIRE(t.add(b.get(), POLLOUT) == 1);
    REQUIRE(t.size() == 2);
    CHECK(t.fd(0) == a.get());
    CHECK(t.fd(1) == b.get());
    CHECK(t.events(0) == POLLIN);
    CHECK_FALSE(t.hidden(0));
    REQUIRE(::write(peer_a.get(), "x", 1) == 1);
    CHECK(poll_now(t) == 2);
    CHECK(t.revents(0) == POLLIN);
    CHECK(t.revents(1) == POLLOUT); // an idle socket is writable
}

TEST_CASE("a hidden slot whose peer hung up is not reported at all", "[exercise][ch01]") {
    HungUp h;
    PollTable t;
    REQUIRE(t.add(h.fd(), POLLIN) == 0);
    REQUIRE(t.size() == 1);
    REQUIRE(poll_now(t) == 1); // shown: the hang-up is reported
    t.set_events(0, 0);
    CHECK(t.hidden(0));
    // events = 0 would not be enough: POLLHUP comes unasked (poll(2)).
    CHECK(poll_now(t) == 0);
    CHECK(t.revents(0) == 0);
    CHECK(t.events(0) == 0);
    CHECK(t.fd(0) == h.fd());
}

TEST_CASE("a slot added with no events starts hidden", "[exercise][ch01]") {
    HungUp h;
    PollTable t;
    REQUIRE(t.add(h.fd(), 0) == 0);
    REQUIRE(t.size() == 1);
    CHECK(t.hidden(0));
    CHECK(t.fd(0) == h.fd());
    CHECK(poll_now(t) == 0);
}

TEST_CASE("showing a hidden slot again reports what happened while it was hidden",
          "[exercise][ch01]") {
    auto [a, peer] = small_socketpair();
    PollTable t;
    REQUIRE(t.add(a.get(), POLLIN) == 0);
    REQUIRE(t.size() == 1);
    t.set_events(0, 0);
    REQUIRE(::write(peer.get(), "queued", 6) == 6);
    CHECK(poll_now(t) == 0);
    t.set_events(0, POLLIN | POLLOUT);
    CHECK_FALSE(t.hidden(0));
    CHECK(t.events(0) == (POLLIN | POLLOUT));
    CHECK(t.fd(0) == a.get());
    CHECK(poll_now(t) == 1);
    CHECK(t.revents(0) == (POLLIN | POLLOUT));
}

TEST_CASE("hiding a hidden slot keeps it hidden and keeps its descriptor", "[exercise][ch01]") {
    HungUp h;
    PollTable t;
    REQUIRE(t.add(h.fd(), POLLIN) == 0);
    REQUIRE(t.size() == 1);
    t.set_events(0, 0);
    t.set_events(0, 0); // e.g. paused twice by two parts of the server
    CHECK(t.hidden(0));
    CHECK(t.fd(0) == h.fd());
    CHECK(poll_now(t) == 0);
    t.set_events(0, POLLIN);
    CHECK(t.fd(0) == h.fd());
    CHECK(poll_now(t) == 1);
    CHECK((t.revents(0) & POLLHUP) != 0);
}

TEST_CASE("descriptor 0 can be hidden and shown like any other", "[exercise][ch01]") {
    HungUp h;
    OnStdin on_stdin(h.fd()); // descriptor 0 is now a socket whose peer hung up
    PollTable t;
    REQUIRE(t.add(0, POLLIN) == 0);
    REQUIRE(t.size() == 1);
    REQUIRE(poll_now(t) == 1);
    t.set_events(0, 0);
    CHECK(t.hidden(0));
    CHECK(t.fd(0) == 0);
    INFO("-0 is 0: a hidden descriptor 0 must still be negative");
    CHECK(poll_now(t) == 0);
    t.set_events(0, POLLIN);
    CHECK_FALSE(t.hidden(0));
    CHECK(t.fd(0) == 0);
    CHECK(poll_now(t) == 1);
}

TEST_CASE("changing the events of a shown slot keeps it shown", "[exercise][ch01]") {
    auto [a, peer] = small_socketpair();
    PollTable t;
    REQUIRE(t.add(a.get(), POLLIN) == 0);
    REQUIRE(t.size() == 1);
    t.set_events(0, POLLOUT);
    CHECK_FALSE(t.hidden(0));
    CHECK(t.events(0) == POLLOUT);
    CHECK(t.fd(0) == a.get());
    CHECK(poll_now(t) == 1);
    CHECK(t.revents(0) == POLLOUT);
}

TEST_CASE("removing a slot moves the last one into its place, hidden or not", "[exercise][ch01]") {
    HungUp first, middle, last;
    PollTable t;
    REQUIRE(t.add(first.fd(), POLLIN) == 0);
    REQUIRE(t.add(middle.fd(), POLLIN) == 1);
    REQUIRE(t.add(last.fd(), POLLIN) == 2);
    REQUIRE(t.size() == 3);
    t.set_events(2, 0);
    t.remove(0);
    REQUIRE(t.size() == 2);
    CHECK(t.fd(0) == last.fd());
    CHECK(t.hidden(0));
    CHECK(t.fd(1) == middle.fd());
    CHECK(poll_now(t) == 1); // only the shown one
    CHECK(t.revents(1) != 0);
    t.set_events(0, POLLIN);
    CHECK(poll_now(t) == 2);
}

TEST_CASE("among many slots only the shown ones are reported", "[exercise][ch01]") {
    std::vector<HungUp> conns(40);
    PollTable t;
    for (std::size_t i = 0; i < conns.size(); ++i)
        REQUIRE(t.add(conns[i].fd(), POLLIN) == i);
    REQUIRE(t.size() == conns.size());
    for (std::size_t i = 0; i < conns.size(); i += 3)
        t.set_events(i, 0);
    int shown = 0;
    for (std::size_t i = 0; i < conns.size(); ++i)
        shown += t.hidden(i) ? 0 : 1;
    CHECK(shown == 26);
    CHECK(poll_now(t) == shown);
    for (std::size_t i = 0; i < conns.size(); ++i) {
        CHECK(t.fd(i) == conns[i].fd());
        CHECK((t.revents(i) != 0) == (i % 3 != 0));
    }
}
