// Grades the ch02 epollout_toggle exercise
// (chapters/02-epoll-level/exercises/epollout_toggle.hpp): the events a
// connection's state asks for, then applying them to a real epoll instance
// and checking what epoll_wait() reports and what the kernel's interest list
// holds.
#include "catch_compat.hpp"
#include "ch02_epoll_support.hpp"
#include "epollout_toggle.hpp"

using namespace ioladder::test;
using ioladder::ch02::Apply;
using ioladder::ch02::apply_interest;
using ioladder::ch02::ConnState;
using ioladder::ch02::Registration;
using ioladder::ch02::wanted_events;

namespace {

constexpr std::size_t kCap = 64 * 1024;

// A socket pair with a[0] registered for EPOLLIN (data.fd = a[0]) in a new
// epoll instance; a[1] is the client's end.
struct Setup {
    std::pair<Fd, Fd> pair = small_socketpair();
    Fd ep = new_epoll();
    Registration reg;
    Setup() {
        ctl(ep.get(), EPOLL_CTL_ADD, fd(), EPOLLIN, static_cast<uint64_t>(fd()));
        reg = {ep.get(), fd(), EPOLLIN};
    }
    int fd() const { return pair.first.get(); }
    int client() const { return pair.second.get(); }
};

} // namespace

TEST_CASE("a connection with nothing queued asks only to read", "[exercise][ch02]") {
    CHECK(wanted_events({0, kCap, false}) == EPOLLIN);
}

TEST_CASE("queued output adds write interest and keeps reading while there is room",
          "[exercise][ch02]") {
    CHECK(wanted_events({1, kCap, false}) == (EPOLLIN | EPOLLOUT));
    CHECK(wanted_events({kCap - 1, kCap, false}) == (EPOLLIN | EPOLLOUT));
}

TEST_CASE("a full output buffer drops read interest and keeps write interest", "[exercise][ch02]") {
    CHECK(wanted_events({kCap, kCap, false}) == EPOLLOUT);
}

TEST_CASE("after the client's EOF only pending output is wanted", "[exercise][ch02]") {
    CHECK(wanted_events({10, kCap, true}) == EPOLLOUT);
    CHECK(wanted_events({0, kCap, true}) == 0u);
}

TEST_CASE("switching EPOLLOUT on makes epoll_wait report the writable socket", "[exercise][ch02]") {
    Setup s;
    REQUIRE(reported_for(s.ep.get(), s.fd()) == 0u); // idle: nothing to report
    CHECK(apply_interest(s.reg, EPOLLIN | EPOLLOUT) == Apply::modified);
    CHECK(s.reg.registered == (EPOLLIN | EPOLLOUT));
    CHECK(reported_for(s.ep.get(), s.fd()) == EPOLLOUT);
    // The kernel holds the new mask, and data still names the descriptor.
    auto list = interest_list(s.ep.get());
    REQUIRE(list.count(s.fd()) == 1);
    CHECK((list[s.fd()].events & (EPOLLIN | EPOLLOUT)) == (EPOLLIN | EPOLLOUT));
    CHECK(list[s.fd()].data == static_cast<uint64_t>(s.fd()));
}

TEST_CASE("switching EPOLLOUT off stops the reports and keeps reading", "[exercise][ch02]") {
    Setup s;
    REQUIRE(apply_interest(s.reg, EPOLLIN | EPOLLOUT) == Apply::modified);
    REQUIRE(reported_for(s.ep.get(), s.fd()) == EPOLLOUT);
    CHECK(apply_interest(s.reg, EPOLLIN) == Apply::modified);
    CHECK(s.reg.registered == EPOLLIN);
    // Level-triggered EPOLLOUT would be reported on every wait; now none are.
    for (int i = 0; i < 5; ++i)
        CHECK(reported_for(s.ep.get(), s.fd()) == 0u);
    // Reading is still watched: the client sends, and it is reported.
    REQUIRE(::write(s.client(), "x", 1) == 1);
    CHECK(reported_for(s.ep.get(), s.fd()) == EPOLLIN);
}

TEST_CASE("dropping EPOLLIN hides unread data until it is asked for again", "[exercise][ch02]") {
    Setup s;
    REQUIRE(::write(s.client(), "unread", 6) == 6);
    REQUIRE(reported_for(s.ep.get(), s.fd()) == EPOLLIN);
    CHECK(apply_interest(s.reg, 0) == Apply::modified); // e.g. buffer full, nothing to send
    CHECK(reported_for(s.ep.get(), s.fd()) == 0u);
    CHECK(apply_interest(s.reg, EPOLLIN) == Apply::modified);
    CHECK(reported_for(s.ep.get(), s.fd()) == EPOLLIN);
}

TEST_CASE("an unchanged interest makes no epoll_ctl call", "[exercise][ch02]") {
    Setup s;
    REQUIRE(apply_interest(s.reg, EPOLLIN | EPOLLOUT) == Apply::modified);
    // Plant a marker in the registration's data with the same events: an
    // EPOLL_CTL_MOD by the code under test would overwrite it with data.fd.
    const uint64_t marker = 0x1adde12ull;
    ctl(s.ep.get(), EPOLL_CTL_MOD, s.fd(), EPOLLIN | EPOLLOUT, marker);
    CHECK(apply_interest(s.reg, EPOLLIN | EPOLLOUT) == Apply::unchanged);
    CHECK(interest_list(s.ep.get())[s.fd()].data == marker);
    CHECK(s.reg.registered == (EPOLLIN | EPOLLOUT));
}

TEST_CASE("a failed EPOLL_CTL_MOD reports failed with errno and keeps the old state",
          "[exercise][ch02]") {
    Setup s;
    // Another descriptor that this epoll instance does not watch: ENOENT.
    auto other = small_socketpair();
    Registration r{s.ep.get(), other.first.get(), EPOLLIN};
    errno = 0;
    CHECK(apply_interest(r, EPOLLIN | EPOLLOUT) == Apply::failed);
    CHECK(errno == ENOENT);
    CHECK(r.registered == EPOLLIN);
    CHECK(interest_list(s.ep.get()).count(other.first.get()) == 0);
}
