// Grades the ch02 nag_counter exercise
// (chapters/02-epoll-level/exercises/nag_counter.hpp) on real sockets:
// level-triggered reports repeat until the data is read, edge-triggered ones
// do not, EOF nags like data, and a crowd of ready sockets must not hide one.
#include "catch_compat.hpp"
#include "ch02_epoll_support.hpp"
#include "nag_counter.hpp"

#include <vector>

using namespace ioladder::test;
using ioladder::ch02::count_reports;
using ioladder::ch02::NagCount;

namespace {

// Reads what is waiting on a non-blocking socket.
std::size_t drain(int fd) {
    char buf[4096];
    std::size_t total = 0;
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n > 0)
            total += static_cast<std::size_t>(n);
        else if (n < 0 && errno == EINTR)
            continue;
        else
            return total;
    }
}

} // namespace

TEST_CASE("a readable socket is reported on every wait under level triggering",
          "[exercise][ch02]") {
    Fd ep = new_epoll();
    auto [a, b] = small_socketpair();
    ctl(ep.get(), EPOLL_CTL_ADD, a.get(), EPOLLIN, static_cast<uint64_t>(a.get()));
    REQUIRE(::write(b.get(), "hello\n", 6) == 6);
    NagCount c = count_reports(ep.get(), a.get(), 10);
    CHECK(c.waits == 10);
    CHECK(c.reports == 10);
    CHECK(c.seen == EPOLLIN);
    // Counting read nothing: the six bytes are still there.
    CHECK(drain(a.get()) == 6);
}

TEST_CASE("a socket whose data was read is not reported at all", "[exercise][ch02]") {
    Fd ep = new_epoll();
    auto [a, b] = small_socketpair();
    ctl(ep.get(), EPOLL_CTL_ADD, a.get(), EPOLLIN, static_cast<uint64_t>(a.get()));
    REQUIRE(::write(b.get(), "hello\n", 6) == 6);
    REQUIRE(drain(a.get()) == 6);
    NagCount c = count_reports(ep.get(), a.get(), 7);
    CHECK(c.waits == 7);
    CHECK(c.reports == 0);
    CHECK(c.seen == 0u);
}

TEST_CASE("an edge-triggered socket is reported once per arrival", "[exercise][ch02]") {
    Fd ep = new_epoll();
    auto [a, b] = small_socketpair();
    ctl(ep.get(), EPOLL_CTL_ADD, a.get(), EPOLLIN | EPOLLET, static_cast<uint64_t>(a.get()));
    REQUIRE(::write(b.get(), "hello\n", 6) == 6);
    NagCount c = count_reports(ep.get(), a.get(), 10);
    CHECK(c.waits == 10);
    CHECK(c.reports == 1);
    REQUIRE(::write(b.get(), "again\n", 6) == 6);
    c = count_reports(ep.get(), a.get(), 10);
    CHECK(c.waits == 10);
    CHECK(c.reports == 1);
}

TEST_CASE("a socket at EOF nags on every wait, with EPOLLRDHUP when asked", "[exercise][ch02]") {
    Fd ep = new_epoll();
    auto [a, b] = small_socketpair();
    ctl(ep.get(), EPOLL_CTL_ADD, a.get(), EPOLLIN | EPOLLRDHUP, static_cast<uint64_t>(a.get()));
    b.reset(); // the peer closes: nothing to read, but read() would return 0 now
    NagCount c = count_reports(ep.get(), a.get(), 8);
    CHECK(c.waits == 8);
    CHECK(c.reports == 8);
    CHECK((c.seen & EPOLLIN) != 0);
    CHECK((c.seen & EPOLLRDHUP) != 0);
    // EPOLLHUP too (both directions are shut on a closed AF_UNIX peer): never
    // asked for, always reported.
    CHECK((c.seen & EPOLLHUP) != 0);
}

TEST_CASE("one socket among 200 ready ones is counted on every wait", "[exercise][ch02]") {
    Fd ep = new_epoll();
    std::vector<std::pair<Fd, Fd>> crowd;
    for (int i = 0; i < 200; ++i) {
        crowd.push_back(small_socketpair());
        int fd = crowd.back().first.get();
        ctl(ep.get(), EPOLL_CTL_ADD, fd, EPOLLOUT, static_cast<uint64_t>(fd)); // always ready
    }
    auto [a, b] = small_socketpair();
    ctl(ep.get(), EPOLL_CTL_ADD, a.get(), EPOLLIN, static_cast<uint64_t>(a.get()));
    REQUIRE(::write(b.get(), "x", 1) == 1);
    // With a small events array the 201 ready descriptors would take turns,
    // and `a` would appear in only some of the waits.
    NagCount c = count_reports(ep.get(), a.get(), 12);
    CHECK(c.waits == 12);
    CHECK(c.reports == 12);
}
