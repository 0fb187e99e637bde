// Grades the ch02 stale_reports exercise
// (chapters/02-epoll-level/exercises/stale_reports.hpp) with real batches
// from epoll_wait(): a handler closes another connection whose report is
// still in the batch, and the number is reused before that report is read.
#include "catch_compat.hpp"
#include "ch02_epoll_support.hpp"
#include "stale_reports.hpp"

#include <vector>

using namespace ioladder::test;
using ioladder::ch02::Registry;

namespace {

// The reports of one wait, by the descriptor they were made for. The test
// knows which report is whose by the order it made them ready in.
std::vector<epoll_event> wait_reports(int epfd, std::size_t expected) {
    std::vector<epoll_event> got = ready_now(epfd);
    REQUIRE(got.size() == expected);
    return got;
}

int add(Registry& r, int fd, uint32_t events = EPOLLIN) {
    STEP("Registry::add");
    return r.add(fd, events);
}

int resolve(const Registry& r, const epoll_event& ev) {
    STEP("Registry::resolve");
    return r.resolve(ev);
}

// Two connections with a report each in one batch. The handler of the first
// report closes the other connection (through the registry), whose report
// is still waiting in the batch.
struct Batch {
    Fd ep = new_epoll();
    std::pair<Fd, Fd> a = small_socketpair(), b = small_socketpair();
    Registry reg{ep.get()};
    std::vector<epoll_event> reports;
    int first = -1;  // the descriptor of reports[0], handled first
    int closed = -1; // the number of the other one, closed by that handler
    Batch() {
        REQUIRE(add(reg, a.first.get()) == 0);
        REQUIRE(add(reg, b.first.get()) == 0);
        REQUIRE(::write(a.second.get(), "x", 1) == 1);
        REQUIRE(::write(b.second.get(), "x", 1) == 1);
        reports = wait_reports(ep.get(), 2);
        first = resolve(reg, reports[0]);
        REQUIRE((first == a.first.get() || first == b.first.get()));
        Fd& other = first == a.first.get() ? b.first : a.first;
        closed = other.get();
        STEP("Registry::close of the other connection");
        reg.close(closed);
        other.release();
    }
};

} // namespace

TEST_CASE("a report resolves to the descriptor it was made for", "[exercise][ch02]") {
    Fd ep = new_epoll();
    auto [a, peer] = small_socketpair();
    Registry reg(ep.get());
    REQUIRE(add(reg, a.get()) == 0);
    REQUIRE(::write(peer.get(), "x", 1) == 1);
    auto reports = wait_reports(ep.get(), 1);
    CHECK(resolve(reg, reports[0]) == a.get());
    CHECK((reports[0].events & EPOLLIN) != 0);
    // A token no connection was ever given resolves to nothing.
    epoll_event made_up{};
    made_up.data.u64 = 0xfffffff0fffffff0ull;
    CHECK(resolve(reg, made_up) == -1);
}

TEST_CASE("a report for a connection closed later in the batch resolves to nothing",
          "[exercise][ch02]") {
    Batch batch;
    CHECK_FALSE(is_open(batch.closed));
    CHECK(resolve(batch.reg, batch.reports[1]) == -1);
    CHECK(resolve(batch.reg, batch.reports[0]) == batch.first); // its own report is still good
}

TEST_CASE("a stale report is not handed to the new connection that got the number",
          "[exercise][ch02]") {
    Batch batch;
    Registry& reg = batch.reg;
    const int number = batch.closed;
    // Still in the same batch: a new client arrives and takes the number.
    auto [c, pc] = small_socketpair(); // the lowest free number first
    REQUIRE(c.get() == number);
    REQUIRE(add(reg, c.get()) == 0);
    INFO("the old report for " << number << " was made before the close");
    CHECK(resolve(reg, batch.reports[1]) == -1);
    // The new connection's own reports resolve to it.
    REQUIRE(::write(pc.get(), "y", 1) == 1);
    int found = 0;
    for (const epoll_event& e : ready_now(batch.ep.get()))
        if (resolve(reg, e) == c.get()) ++found;
    CHECK(found == 1);
}

TEST_CASE("every earlier owner of a number stays stale however often it is reused",
          "[exercise][ch02]") {
    Fd ep = new_epoll();
    Registry reg(ep.get());
    std::vector<epoll_event> old_reports;
    int number = -1;
    for (int round = 0; round < 6; ++round) {
        auto [s, peer] = small_socketpair();
        if (number < 0) number = s.get();
        REQUIRE(s.get() == number); // the lowest free number, every time
        REQUIRE(add(reg, s.get()) == 0);
        REQUIRE(::write(peer.get(), "x", 1) == 1);
        auto reports = wait_reports(ep.get(), 1);
        REQUIRE(resolve(reg, reports[0]) == number);
        for (const epoll_event& old : old_reports)
            CHECK(resolve(reg, old) == -1);
        old_reports.push_back(reports[0]);
        STEP("Registry::close");
        reg.close(s.get());
        s.release();
    }
    for (const epoll_event& old : old_reports)
        CHECK(resolve(reg, old) == -1);
}

TEST_CASE("close closes the descriptor and takes it out of the interest list", "[exercise][ch02]") {
    Fd ep = new_epoll();
    auto [a, pa] = small_socketpair();
    auto [b, pb] = small_socketpair();
    Registry reg(ep.get());
    REQUIRE(add(reg, a.get()) == 0);
    REQUIRE(add(reg, b.get(), EPOLLIN | EPOLLOUT) == 0);
    auto list = interest_list(ep.get());
    REQUIRE(list.size() == 2);
    CHECK((list[b.get()].events & (EPOLLIN | EPOLLOUT)) == (EPOLLIN | EPOLLOUT));
    const int number = a.get();
    STEP("Registry::close");
    reg.close(number);
    a.release();
    CHECK_FALSE(is_open(number));
    list = interest_list(ep.get());
    CHECK(list.size() == 1);
    CHECK(list.count(number) == 0);
}

TEST_CASE("a descriptor epoll cannot watch is refused with the errno", "[exercise][ch02]") {
    Fd ep = new_epoll();
    Fd file(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    REQUIRE(file.get() >= 0);
    Registry reg(ep.get());
    CHECK(add(reg, file.get()) == EPERM); // epoll_ctl(2): files are not pollable
    CHECK(interest_list(ep.get()).empty());
}
