// Grades the ch02 nag_counter exercise
// (chapters/02-epoll-level/exercises/nag_counter.hpp) on real sockets:
// level-triggered reports repeat until the state changes, edge-triggered ones
// do not, EOF and an idle EPOLLOUT nag like unread data, a crowd of ready
// sockets must not hide one, and a dup must not double a count.
#include "catch_compat.hpp"
#include "ch02_epoll_support.hpp"
#include "faults.hpp"
#include "nag_counter.hpp"

#include <cstring>
#include <vector>

using namespace ioladder::test;
using ioladder::ch02::count_nags;
using ioladder::ch02::Nag;
using ioladder::ch02::NagReport;

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

NagReport count(int epfd, int waits) {
    STEP("count_nags with " + std::to_string(waits) + " waits");
    return count_nags(epfd, waits);
}

// The entry for fd, or an empty one when it was never reported.
Nag nag_of(const NagReport& r, int fd) {
    for (const Nag& n : r.fds)
        if (n.fd == fd) return n;
    return {fd, 0, 0};
}

void watch(int epfd, int fd, uint32_t events) {
    ctl(epfd, EPOLL_CTL_ADD, fd, events, static_cast<uint64_t>(fd));
}

// An epoll instance watching one socket (EPOLLIN) with `data` unread in it.
struct Unread {
    Fd ep = new_epoll();
    std::pair<Fd, Fd> pair = small_socketpair();
    explicit Unread(const char* data = "x") {
        watch(ep.get(), fd(), EPOLLIN);
        REQUIRE(::write(pair.second.get(), data, std::strlen(data)) ==
                static_cast<ssize_t>(std::strlen(data)));
    }
    int fd() const { return pair.first.get(); }
};

} // namespace

TEST_CASE("a socket with unread data is reported by every wait, and nothing is read",
          "[exercise][ch02]") {
    Unread u("hello\n");
    NagReport r = count(u.ep.get(), 10);
    CHECK(r.waits == 10);
    REQUIRE(r.fds.size() == 1);
    CHECK(r.fds[0].fd == u.fd());
    CHECK(r.fds[0].reports == 10);
    CHECK(r.fds[0].seen == EPOLLIN);
    CHECK(drain(u.fd()) == 6); // still all there
}

TEST_CASE("a socket whose data was read is not reported at all", "[exercise][ch02]") {
    Fd ep = new_epoll();
    auto [a, b] = small_socketpair();
    auto [c, d] = small_socketpair();
    watch(ep.get(), a.get(), EPOLLIN);
    watch(ep.get(), c.get(), EPOLLIN);
    REQUIRE(::write(b.get(), "hello\n", 6) == 6);
    REQUIRE(::write(d.get(), "hello\n", 6) == 6);
    REQUIRE(drain(a.get()) == 6);
    NagReport r = count(ep.get(), 7);
    CHECK(r.waits == 7);
    CHECK(nag_of(r, a.get()).reports == 0);
    CHECK(nag_of(r, c.get()).reports == 7);
    CHECK(r.fds.size() == 1); // only descriptors that were reported
}

TEST_CASE("an edge-triggered socket is reported once per arrival", "[exercise][ch02]") {
    Fd ep = new_epoll();
    auto [a, b] = small_socketpair();
    watch(ep.get(), a.get(), EPOLLIN | EPOLLET);
    REQUIRE(::write(b.get(), "hello\n", 6) == 6);
    NagReport r = count(ep.get(), 10);
    CHECK(r.waits == 10);
    CHECK(nag_of(r, a.get()).reports == 1);
    REQUIRE(::write(b.get(), "again\n", 6) == 6);
    r = count(ep.get(), 10);
    CHECK(nag_of(r, a.get()).reports == 1);
}

TEST_CASE("a socket at EOF nags on every wait, with EPOLLRDHUP and EPOLLHUP", "[exercise][ch02]") {
    Fd ep = new_epoll();
    auto [a, b] = small_socketpair();
    watch(ep.get(), a.get(), EPOLLIN | EPOLLRDHUP);
    b.reset(); // the peer closes: read() would return 0 now, forever
    NagReport r = count(ep.get(), 8);
    CHECK(r.waits == 8);
    Nag n = nag_of(r, a.get());
    CHECK(n.reports == 8);
    CHECK((n.seen & EPOLLIN) != 0);
    CHECK((n.seen & EPOLLRDHUP) != 0);
    CHECK((n.seen & EPOLLHUP) != 0); // never asked for, always reported
}

TEST_CASE("EPOLLOUT on an idle socket nags and EPOLLIN on an idle socket does not",
          "[exercise][ch02]") {
    Fd ep = new_epoll();
    auto [a, b] = small_socketpair();
    auto [c, d] = small_socketpair();
    watch(ep.get(), a.get(), EPOLLIN | EPOLLOUT); // "left on with nothing to send"
    watch(ep.get(), c.get(), EPOLLIN);
    NagReport r = count(ep.get(), 12);
    CHECK(r.waits == 12);
    REQUIRE(r.fds.size() == 1);
    CHECK(r.fds[0].fd == a.get());
    CHECK(r.fds[0].reports == 12);
    CHECK(r.fds[0].seen == EPOLLOUT);
}

TEST_CASE("every socket among 200 ready ones is counted on every wait", "[exercise][ch02]") {
    Fd ep = new_epoll();
    std::vector<std::pair<Fd, Fd>> crowd;
    for (int i = 0; i < 200; ++i) {
        crowd.push_back(small_socketpair());
        watch(ep.get(), crowd.back().first.get(), EPOLLOUT); // always ready
    }
    auto [a, b] = small_socketpair();
    watch(ep.get(), a.get(), EPOLLIN);
    REQUIRE(::write(b.get(), "x", 1) == 1);
    // With a small events array the 201 ready descriptors would take turns,
    // and each would appear in only some of the waits.
    NagReport r = count(ep.get(), 12);
    CHECK(r.waits == 12);
    CHECK(r.fds.size() == 201);
    CHECK(nag_of(r, a.get()).reports == 12);
    int every_wait = 0;
    for (const Nag& n : r.fds)
        every_wait += n.reports == 12 ? 1 : 0;
    CHECK(every_wait == 201);
    for (std::size_t i = 1; i < r.fds.size(); ++i)
        CHECK(r.fds[i - 1].fd < r.fds[i].fd);
}

TEST_CASE("a descriptor reported twice in one wait counts once, with the bits of both",
          "[exercise][ch02]") {
    Fd ep = new_epoll();
    auto [a, b] = small_socketpair();
    Fd copy(::dup(a.get()));
    REQUIRE(copy.get() >= 0);
    // Two registrations (a and its dup) that both carry data.fd = a.
    ctl(ep.get(), EPOLL_CTL_ADD, a.get(), EPOLLIN, static_cast<uint64_t>(a.get()));
    ctl(ep.get(), EPOLL_CTL_ADD, copy.get(), EPOLLOUT, static_cast<uint64_t>(a.get()));
    REQUIRE(::write(b.get(), "x", 1) == 1);
    REQUIRE(ready_now(ep.get()).size() == 2); // two reports per wait for one data.fd
    NagReport r = count(ep.get(), 5);
    CHECK(r.waits == 5);
    REQUIRE(r.fds.size() == 1);
    CHECK(r.fds[0].fd == a.get());
    CHECK(r.fds[0].reports == 5); // waits that reported it, not reports
    CHECK(r.fds[0].seen == (EPOLLIN | EPOLLOUT));
}

TEST_CASE("an interrupted wait is waited again and not counted", "[exercise][ch02]") {
    FaultScope faults;
    Unread u;
    target(u.ep.get());
    inject_errors(Call::epoll_wait, {EINTR, 0, EINTR, 0, 0, EINTR});
    NagReport r = count(u.ep.get(), 10);
    CHECK(r.waits == 10);
    CHECK(nag_of(r, u.fd()).reports == 10);
    CHECK(calls(Call::epoll_wait) == 13); // three interrupted, ten real
}

TEST_CASE("any other failure ends the count with what it has", "[exercise][ch02]") {
    FaultScope faults;
    Unread u;
    target(u.ep.get());
    inject_errors(Call::epoll_wait, {0, 0, 0, EBADF});
    NagReport r = count(u.ep.get(), 10);
    CHECK(r.waits == 3);
    CHECK(nag_of(r, u.fd()).reports == 3);
    CHECK(calls(Call::epoll_wait) == 4);
}

TEST_CASE("the waits never sleep, even when nothing is ready", "[exercise][ch02]") {
    Fd ep = new_epoll();
    auto [a, b] = small_socketpair();
    watch(ep.get(), a.get(), EPOLLIN); // idle: never ready
    auto start = Clock::now();
    NagReport r = count(ep.get(), 20);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
    INFO("20 waits took " << ms << " ms");
    CHECK(r.waits == 20);
    CHECK(r.fds.empty());
    CHECK(ms < 1000); // a 100 ms timeout would take 2 s
}
