// Grades the ch03 ready_queue exercise (chapters/03-epoll-edge/exercises/ready_queue.hpp):
// the queue's rules on their own, then a small fair loop on real sockets and
// edge-triggered epoll, where a socket with a megabyte waiting must not keep
// a socket with a few bytes from being served.
#include "catch_compat.hpp"
#include "ready_queue.hpp"
#include "support.hpp"

#include <sys/epoll.h>
#include <vector>

using namespace ioladder::test;
using ioladder::ch03::ReadyQueue;

namespace {

std::vector<int> round_order(ReadyQueue& q, const std::function<bool(int)>& more) {
    std::vector<int> seen;
    STEP("ReadyQueue::run_round");
    q.run_round([&](int fd) {
        seen.push_back(fd);
        return more(fd);
    });
    return seen;
}

} // namespace

TEST_CASE("the wait timeout is 0 while anything is queued and -1 when nothing is",
          "[exercise][ch03]") {
    ReadyQueue q;
    CHECK(q.wait_timeout() == -1);
    q.push(7);
    CHECK(q.wait_timeout() == 0);
    q.run_round([](int) { return false; });
    CHECK(q.wait_timeout() == -1);
}

TEST_CASE("a descriptor is queued at most once", "[exercise][ch03]") {
    ReadyQueue q;
    q.push(5);
    q.push(5);
    q.push(6);
    CHECK(q.size() == 2);
    CHECK(q.contains(5));
    CHECK(q.contains(6));
    CHECK_FALSE(q.contains(7));
}

TEST_CASE("each descriptor queued when a round starts gets exactly one turn, front to back",
          "[exercise][ch03]") {
    ReadyQueue q;
    for (int fd : {3, 4, 5})
        q.push(fd);
    std::vector<int> seen;
    std::size_t turns = q.run_round([&](int fd) {
        seen.push_back(fd);
        return false;
    });
    CHECK(turns == 3);
    CHECK(seen == std::vector<int>{3, 4, 5});
    CHECK(q.empty());
}

TEST_CASE("a descriptor with work left goes to the back and is served again next round",
          "[exercise][ch03]") {
    ReadyQueue q;
    q.push(3);
    q.push(4);
    CHECK(round_order(q, [](int fd) { return fd == 3; }) == std::vector<int>{3, 4});
    CHECK(q.contains(3));
    CHECK_FALSE(q.contains(4));
    q.push(6);
    CHECK(round_order(q, [](int) { return false; }) == std::vector<int>{3, 6});
}

TEST_CASE("descriptors pushed during a round wait for the next one", "[exercise][ch03]") {
    ReadyQueue q;
    q.push(3);
    std::vector<int> first = round_order(q, [&](int fd) {
        q.push(9);   // a new event arrived meanwhile
        q.push(fd);  // the turn itself re-queues: still just once
        return true; // ... and says it has work left
    });
    CHECK(first == std::vector<int>{3});
    CHECK(q.size() == 2);
    CHECK(round_order(q, [](int) { return false; }) == std::vector<int>{9, 3});
}

TEST_CASE("a descriptor still waiting for its turn in this round stays queued and gets one turn",
          "[exercise][ch03]") {
    // While 3 has its turn, a new event for 4 arrives. 4 is queued, waiting
    // for its turn later in this same round: pushing it again changes
    // nothing, and it is served once, not again in the next round.
    ReadyQueue q;
    q.push(3);
    q.push(4);
    bool four_was_queued = false;
    std::vector<int> seen = round_order(q, [&](int fd) {
        if (fd == 3) {
            four_was_queued = q.contains(4);
            q.push(4);
        }
        return false;
    });
    CHECK(four_was_queued);
    CHECK(seen == std::vector<int>{3, 4});
    CHECK_FALSE(q.contains(4));
    CHECK(q.empty());
    CHECK(round_order(q, [](int) { return false; }).empty());
}

TEST_CASE("a removed descriptor gets no more turns and can be queued again", "[exercise][ch03]") {
    ReadyQueue q;
    for (int fd : {3, 4, 5})
        q.push(fd);
    q.remove(4);
    q.remove(42); // never queued: nothing happens
    CHECK(q.size() == 2);
    CHECK_FALSE(q.contains(4));
    CHECK(round_order(q, [](int) { return true; }) == std::vector<int>{3, 5});
    q.push(4); // accept() gave the number to a new connection
    CHECK(round_order(q, [](int) { return false; }) == std::vector<int>{3, 5, 4});
}

TEST_CASE("in a fair edge-triggered loop a socket with a megabyte waiting cannot starve one "
          "with a few bytes",
          "[exercise][ch03]") {
    // Two sockets: "busy" has 1 MiB waiting, "quiet" has 100 bytes. Each turn
    // reads at most 16 KiB; a socket not yet at EAGAIN stays queued, because
    // under EPOLLET nothing will report it again.
    int a[2], b[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, a) == 0);
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, b) == 0);
    Fd busy_w(a[0]), busy(a[1]), quiet_w(b[0]), quiet(b[1]);
    int big = 4 << 20;
    ::setsockopt(busy_w.get(), SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    ::setsockopt(busy.get(), SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    std::size_t busy_total = 0;
    std::string chunk(64 * 1024, 'b');
    while (busy_total < (1u << 20)) {
        ssize_t n = ::send(busy_w.get(), chunk.data(), chunk.size(), MSG_NOSIGNAL);
        if (n <= 0) break; // the pair took less than 1 MiB: fine, as long as it is a lot
        busy_total += static_cast<std::size_t>(n);
    }
    REQUIRE(busy_total >= 256 * 1024);
    REQUIRE(::send(quiet_w.get(), std::string(100, 'q').data(), 100, MSG_NOSIGNAL) == 100);

    Fd ep(::epoll_create1(EPOLL_CLOEXEC));
    for (int fd : {busy.get(), quiet.get()}) {
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLET;
        ev.data.fd = fd;
        REQUIRE(::epoll_ctl(ep.get(), EPOLL_CTL_ADD, fd, &ev) == 0);
    }

    std::size_t busy_read = 0, quiet_read = 0;
    int rounds = 0, quiet_done_round = -1;
    ReadyQueue q;
    auto turn = [&](int fd) {
        char buf[4096];
        std::size_t taken = 0;
        while (taken < 16 * 1024) {
            ssize_t n = ::read(fd, buf, sizeof buf);
            if (n <= 0) return false; // EAGAIN (or EOF): wait for the next edge
            taken += static_cast<std::size_t>(n);
            (fd == busy.get() ? busy_read : quiet_read) += static_cast<std::size_t>(n);
        }
        return true; // budget spent, data may be left
    };
    while (rounds < 1000 && busy_read < busy_total) {
        int timeout = q.wait_timeout();
        REQUIRE((timeout == 0 || timeout == -1));
        epoll_event got[4];
        // Never block the test for long, whatever the queue says.
        int n = ::epoll_wait(ep.get(), got, 4, timeout < 0 ? 200 : 0);
        for (int i = 0; i < n; ++i)
            q.push(got[i].data.fd);
        if (q.empty() && n == 0) break; // nothing queued and nothing new: stuck
        STEP("ReadyQueue::run_round in the fair loop");
        q.run_round(turn);
        ++rounds;
        if (quiet_read == 100 && quiet_done_round < 0) quiet_done_round = rounds;
    }
    INFO("rounds " << rounds << ", busy read " << busy_read << " of " << busy_total);
    CHECK(quiet_read == 100);
    CHECK(quiet_done_round == 1);   // served in the first round, beside the busy one
    CHECK(busy_read == busy_total); // nothing left behind without an edge
    CHECK(rounds >= static_cast<int>(busy_total / (16 * 1024))); // in budgeted turns
}
