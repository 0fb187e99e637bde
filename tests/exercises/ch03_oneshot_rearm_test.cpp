// Grades the ch03 oneshot_rearm exercise (chapters/03-epoll-edge/exercises/oneshot_rearm.hpp):
// what the kernel's interest list holds after each kind of turn, what is
// reported while a handler runs and after, and four worker threads sharing
// one epoll instance over SOCK_SEQPACKET pairs (message boundaries survive
// several readers, so every message is counted exactly).
#include "catch_compat.hpp"
#include "ch02_epoll_support.hpp"
#include "enum_names.hpp"
#include "faults.hpp"
#include "oneshot_rearm.hpp"

#include <atomic>
#include <thread>
#include <vector>

using namespace ioladder::test;
using ioladder::ch03::Next;
using ioladder::ch03::worker_turn;

IOLADDER_ENUM_NAMES(ioladder::ch03::Next, read, write, read_write, close)

namespace {

// `n` connections, each registered EPOLLIN | EPOLLONESHOT with data = its index.
struct Shared {
    Fd ep = new_epoll();
    std::vector<Fd> server, client; // server[i] is what the workers handle
    std::vector<int> fds;
    explicit Shared(int n, int type = SOCK_STREAM) {
        for (int i = 0; i < n; ++i) {
            int sv[2];
            if (::socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) < 0) fail_errno("socketpair");
            server.emplace_back(sv[0]);
            client.emplace_back(sv[1]); // blocking: the writer simply waits when it is full
            if (::fcntl(sv[0], F_SETFL, O_NONBLOCK) < 0) fail_errno("fcntl");
            fds.push_back(sv[0]);
            ctl(ep.get(), EPOLL_CTL_ADD, sv[0], EPOLLIN | EPOLLONESHOT, static_cast<uint64_t>(i));
        }
    }
    void say(int i, const char* text = "x") {
        REQUIRE(::write(client[i].get(), text, std::strlen(text)) ==
                static_cast<ssize_t>(std::strlen(text)));
    }
    // The events the kernel holds for server i (without EPOLLERR/EPOLLHUP).
    uint32_t registered(int i) {
        auto list = interest_list(ep.get());
        auto it = list.find(fds[i]);
        REQUIRE(it != list.end());
        CHECK(it->second.data == static_cast<uint64_t>(i)); // data kept across re-arms
        return it->second.events & ~(EPOLLERR | EPOLLHUP);
    }
};

// The events reported for connection i (data.u64 == i) by one wait; 0 if none.
uint32_t reported_index(int epfd, int i) {
    uint32_t got = 0;
    for (const epoll_event& e : ready_now(epfd))
        if (e.data.u64 == static_cast<uint64_t>(i)) got |= e.events;
    return got;
}

// Reads one message (or everything waiting, for a stream) from a non-blocking socket.
std::size_t take(int fd) {
    char buf[256];
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    return n > 0 ? static_cast<std::size_t>(n) : 0;
}

int turn(Shared& s, int timeout_ms, const std::function<Next(uint32_t, uint32_t)>& handle) {
    STEP("worker_turn with a timeout of " + std::to_string(timeout_ms) + " ms");
    return worker_turn(s.ep.get(), s.fds, timeout_ms, handle);
}

} // namespace

TEST_CASE("a report is handled once and the connection is re-armed to read", "[exercise][ch03]") {
    Shared s(2);
    s.say(1, "hello");
    int handled = 0;
    uint32_t index = 99, events = 0;
    CHECK(turn(s, 2000, [&](uint32_t i, uint32_t ev) {
              ++handled;
              index = i;
              events = ev;
              take(s.fds[i]);
              return Next::read;
          }) == 1);
    CHECK(handled == 1);
    CHECK(index == 1);
    CHECK(events == EPOLLIN);
    CHECK(s.registered(1) == (EPOLLIN | EPOLLONESHOT));
    // Re-armed: the next message is reported again.
    s.say(1, "again");
    CHECK(turn(s, 2000, [&](uint32_t i, uint32_t) {
              ++handled;
              take(s.fds[i]);
              return Next::read;
          }) == 1);
    CHECK(handled == 2);
}

TEST_CASE("nothing is reported for a connection while its handler runs, and what arrived "
          "meanwhile is reported after",
          "[exercise][ch03]") {
    Shared s(1);
    s.say(0, "first");
    bool reported_during = true;
    CHECK(turn(s, 2000, [&](uint32_t i, uint32_t) {
              take(s.fds[i]);
              s.say(0, "second"); // arrives while this thread owns the connection
              // Another thread waiting now must not get it: not re-armed yet.
              reported_during = reported_index(s.ep.get(), 0) != 0;
              return Next::read;
          }) == 1);
    INFO("re-arm after the work, not before: the MOD hands the connection to the next waiter");
    CHECK_FALSE(reported_during);
    // The MOD looked at the socket: the second message is reported now.
    CHECK(reported_index(s.ep.get(), 0) == EPOLLIN);
}

TEST_CASE("a connection waiting to send is re-armed for writability only", "[exercise][ch03]") {
    Shared s(1);
    s.say(0);
    CHECK(turn(s, 2000, [&](uint32_t i, uint32_t) {
              take(s.fds[i]);
              return Next::write;
          }) == 1);
    CHECK(s.registered(0) == (EPOLLOUT | EPOLLONESHOT));
    s.say(0); // input is not wanted now
    CHECK(reported_index(s.ep.get(), 0) == EPOLLOUT);
    CHECK(reported_index(s.ep.get(), 0) == 0u); // one shot: disabled again
}

TEST_CASE("a connection that wants both is re-armed for both", "[exercise][ch03]") {
    Shared s(1);
    s.say(0);
    CHECK(turn(s, 2000, [&](uint32_t, uint32_t) { return Next::read_write; }) == 1);
    CHECK(s.registered(0) == (EPOLLIN | EPOLLOUT | EPOLLONESHOT));
    CHECK(reported_index(s.ep.get(), 0) == (EPOLLIN | EPOLLOUT));
}

TEST_CASE("a finished connection is closed and nothing is re-armed", "[exercise][ch03]") {
    FaultScope faults;
    Shared s(2);
    s.say(0);
    target(s.ep.get());
    const int fd = s.fds[0];
    CHECK(turn(s, 2000, [&](uint32_t i, uint32_t) {
              take(s.fds[i]); // read all it sent: closing over unread data would reset it
              return Next::close;
          }) == 1);
    s.server[0].release(); // worker_turn closed it
    CHECK_FALSE(is_open(fd));
    CHECK(calls(Call::epoll_ctl) == 0);
    CHECK(interest_list(s.ep.get()).count(fd) == 0);
    char c;
    CHECK(::recv(s.client[0].get(), &c, 1, MSG_DONTWAIT) == 0); // the peer sees EOF
}

TEST_CASE("a turn with nothing to report handles nothing and returns 0", "[exercise][ch03]") {
    Shared s(2);
    int handled = 0;
    auto start = Clock::now();
    CHECK(turn(s, 100, [&](uint32_t, uint32_t) {
              ++handled;
              return Next::read;
          }) == 0);
    CHECK(handled == 0);
    CHECK(Clock::now() - start >= std::chrono::milliseconds(50));
}

TEST_CASE("an interrupted wait handles nothing and returns 0", "[exercise][ch03]") {
    FaultScope faults;
    Shared s(1);
    s.say(0);
    target(s.ep.get());
    inject_errors(Call::epoll_wait, {EINTR});
    int handled = 0;
    CHECK(turn(s, 2000, [&](uint32_t, uint32_t) {
              ++handled;
              return Next::read;
          }) == 0);
    CHECK(handled == 0);
    CHECK(turn(s, 2000, [&](uint32_t, uint32_t) {
              ++handled;
              return Next::read;
          }) == 1);
    CHECK(handled == 1);
}

TEST_CASE("four workers never handle one connection at once and every message is handled",
          "[exercise][ch03]") {
    constexpr int kSockets = 6, kThreads = 4, kMessages = 3000;
    Shared s(kSockets, SOCK_SEQPACKET);
    struct Slot {
        std::atomic<int> busy{0};
        std::atomic<int> next_seq{0};
    };
    std::vector<Slot> slots(kSockets);
    std::atomic<int> handled{0}, overlaps{0}, out_of_order{0}, errors{0};
    auto handle = [&](uint32_t i, uint32_t) {
        Slot& slot = slots[i];
        if (slot.busy.fetch_add(1) != 0) ++overlaps; // another worker is in here
        int seq;
        ssize_t n = ::recv(s.fds[i], &seq, sizeof seq, MSG_DONTWAIT);
        if (n == sizeof seq) {
            if (seq != slot.next_seq.load()) ++out_of_order;
            slot.next_seq.store(seq + 1);
            std::this_thread::sleep_for(std::chrono::microseconds(20)); // the work
            ++handled;
        }
        slot.busy.fetch_sub(1);
        return Next::read; // one message per turn; the re-arm reports the rest
    };
    std::atomic<bool> stop{false};
    std::vector<std::thread> workers;
    STEP("four workers calling worker_turn");
    for (int t = 0; t < kThreads; ++t)
        workers.emplace_back([&] {
            while (!stop.load())
                if (worker_turn(s.ep.get(), s.fds, 50, handle) < 0) ++errors;
        });
    auto deadline = Clock::now() + std::chrono::seconds(8);
    for (int m = 0; m < kMessages && errors.load() < 100 && Clock::now() < deadline;) {
        int i = m % kSockets, seq = m / kSockets;
        ssize_t n = ::send(s.client[i].get(), &seq, sizeof seq, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n == sizeof seq) {
            ++m;
        } else if (n < 0 && errno == EAGAIN) {
            wait_for(s.client[i].get(), POLLOUT, 100); // full: the workers are behind
        } else {
            ++errors;
        }
    }
    while (handled.load() < kMessages && errors.load() < 100 && Clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    stop = true;
    for (auto& w : workers)
        w.join();
    INFO("handled " << handled.load() << " of " << kMessages);
    CHECK(errors.load() == 0);
    CHECK(handled.load() == kMessages); // none stranded in a disabled registration
    CHECK(overlaps.load() == 0);
    CHECK(out_of_order.load() == 0);
}
