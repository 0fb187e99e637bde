// Grades the ch03 drain_loop exercise (chapters/03-epoll-edge/exercises/drain_loop.hpp)
// on TCP connections over loopback. faults.hpp counts the receive calls on the
// server's socket (whichever call the answer uses) and can fail one of them.
#include "catch_compat.hpp"
#include "drain_loop.hpp"
#include "enum_names.hpp"
#include "faults.hpp"
#include "support.hpp"

#include <cstring>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <thread>

using namespace ioladder::test;
using ioladder::ch03::Drain;
using ioladder::ch03::drain_reads;
using ioladder::ch03::DrainResult;
using ioladder::ch03::OutBuffer;

IOLADDER_ENUM_NAMES(ioladder::ch03::Drain, drained, full, peer_closed, failed)

namespace {

std::string pattern(std::size_t n, std::size_t seed = 0) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i)
        s[i] = static_cast<char>('a' + ((i + seed) * 7 + (i + seed) / 251) % 26);
    return s;
}

std::string pending(const OutBuffer& b) {
    return b.empty() ? std::string() : std::string(b.pending().begin(), b.pending().end());
}

void put(OutBuffer& out, const std::string& s) {
    std::size_t done = 0;
    while (done < s.size()) {
        std::span<char> space = out.space();
        std::size_t n = std::min(space.size(), s.size() - done);
        REQUIRE(n > 0);
        std::memcpy(space.data(), s.data() + done, n);
        out.commit(n);
        done += n;
    }
}

// A TCP connection over loopback: a blocking client and the server's
// non-blocking end, registered EPOLLIN | EPOLLRDHUP | EPOLLPRI | EPOLLET as
// the chapter's servers register theirs.
struct Tcp {
    Fd listener = tcp_listener();
    Fd client = tcp_connect(listener.get());
    Fd server;
    Fd ep{::epoll_create1(EPOLL_CLOEXEC)};
    Tcp() {
        REQUIRE(wait_for(listener.get(), POLLIN) != 0);
        server = Fd(::accept4(listener.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
        REQUIRE(server.get() >= 0);
        int one = 1;
        ::setsockopt(client.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLRDHUP | EPOLLPRI | EPOLLET;
        ev.data.fd = server.get();
        REQUIRE(::epoll_ctl(ep.get(), EPOLL_CTL_ADD, server.get(), &ev) == 0);
    }
    // Sends all of `data` from the client and waits until the server has it.
    void send(const std::string& data) {
        const std::size_t expected = waiting() + data.size();
        std::size_t done = 0;
        while (done < data.size()) {
            ssize_t n = ::send(client.get(), data.data() + done, data.size() - done, MSG_NOSIGNAL);
            if (n <= 0) fail_errno("send");
            done += static_cast<std::size_t>(n);
        }
        wait_queued(expected);
    }
    // Bytes in the server's receive queue.
    std::size_t waiting() const {
        int n = 0;
        if (::ioctl(server.get(), FIONREAD, &n) < 0) fail_errno("ioctl FIONREAD");
        return static_cast<std::size_t>(n);
    }
    void wait_queued(std::size_t at_least) const {
        auto deadline = Clock::now() + std::chrono::seconds(5);
        while (waiting() < at_least && Clock::now() < deadline)
            wait_for(server.get(), POLLIN, 10);
        REQUIRE(waiting() >= at_least);
    }
    // The next edge, which must report all of `bits`.
    uint32_t edge_with(uint32_t bits) {
        uint32_t events = edge();
        INFO("the edge reported " << events);
        REQUIRE((events & bits) == bits);
        return events;
    }
    // The events of the next edge for the server's socket (0: none in `ms`).
    uint32_t edge(int ms = 2000) {
        epoll_event got[2];
        int n;
        do {
            n = ::epoll_wait(ep.get(), got, 2, ms);
        } while (n < 0 && errno == EINTR);
        return n > 0 ? got[0].events : 0;
    }
};

DrainResult drain(int fd, uint32_t events, OutBuffer& out) {
    STEP("drain_reads");
    return drain_reads(fd, events, out);
}

} // namespace

TEST_CASE("an empty socket is drained after one call", "[exercise][ch03]") {
    FaultScope faults;
    Tcp t;
    target(t.server.get());
    OutBuffer out(64 * 1024);
    DrainResult r = drain(t.server.get(), EPOLLIN, out);
    CHECK(r.status == Drain::drained);
    CHECK(r.bytes == 0);
    CHECK(r.error == 0);
    CHECK(out.empty());
    CHECK(calls(Call::recv) == 1);
}

TEST_CASE("a short read ends the drain without a recv that would only say EAGAIN",
          "[exercise][ch03]") {
    FaultScope faults;
    Tcp t;
    t.send(pattern(1000));
    t.edge_with(EPOLLIN);
    target(t.server.get());
    OutBuffer out(64 * 1024);
    DrainResult r = drain(t.server.get(), EPOLLIN, out);
    CHECK(r.status == Drain::drained);
    CHECK(r.bytes == 1000);
    CHECK(pending(out) == pattern(1000));
    INFO("recv() returned fewer bytes than asked: the socket is empty (epoll(7), Q&A 9)");
    CHECK(calls(Call::recv) == 1);
    CHECK(failures(Call::recv, EAGAIN) == 0);
}

TEST_CASE("data and FIN in one edge are read to the end when EPOLLRDHUP is reported",
          "[exercise][ch03]") {
    FaultScope faults;
    Tcp t;
    REQUIRE(::send(t.client.get(), "last words", 10, MSG_NOSIGNAL) == 10);
    REQUIRE(::shutdown(t.client.get(), SHUT_WR) == 0);
    // Wait until both are there, then take the one edge they make.
    auto deadline = Clock::now() + std::chrono::seconds(5);
    while ((wait_for(t.server.get(), POLLRDHUP, 10) & POLLRDHUP) == 0 && Clock::now() < deadline) {
    }
    uint32_t events = t.edge_with(EPOLLIN | EPOLLRDHUP);
    target(t.server.get());
    OutBuffer out(64 * 1024);
    DrainResult r = drain(t.server.get(), events, out);
    INFO("a short read that stopped here would leave the FIN unread, and no edge comes for it");
    CHECK(r.status == Drain::peer_closed);
    CHECK(r.bytes == 10);
    CHECK(pending(out) == "last words");
    CHECK(t.edge(100) == 0u); // indeed: nothing more will be reported
}

TEST_CASE("the bytes behind an urgent mark are read when EPOLLPRI is reported",
          "[exercise][ch03]") {
    FaultScope faults;
    Tcp t;
    const std::string before(100, 'a'), after(100, 'b');
    REQUIRE(::send(t.client.get(), before.data(), before.size(), MSG_NOSIGNAL) == 100);
    REQUIRE(::send(t.client.get(), "!", 1, MSG_OOB | MSG_NOSIGNAL) == 1); // the urgent mark
    REQUIRE(::send(t.client.get(), after.data(), after.size(), MSG_NOSIGNAL) == 100);
    // FIONREAD stops counting at the mark; on loopback the bytes behind it
    // are in the queue as soon as send() returns. Give them a moment anyway.
    REQUIRE((wait_for(t.server.get(), POLLPRI) & POLLPRI) != 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    uint32_t events = t.edge_with(EPOLLIN | EPOLLPRI);
    target(t.server.get());
    OutBuffer out(64 * 1024);
    DrainResult r = drain(t.server.get(), events, out);
    INFO("recv() stops short at the urgent mark; only EAGAIN proves the stream empty here");
    CHECK(r.status == Drain::drained);
    CHECK(r.bytes == 200);
    CHECK(pending(out) == before + after);
}

TEST_CASE("a full buffer stops the drain, and a drain after making room gets the rest",
          "[exercise][ch03]") {
    FaultScope faults;
    Tcp t;
    const std::string data = pattern(50000);
    t.send(data);
    uint32_t events = t.edge_with(EPOLLIN);
    OutBuffer out(32768);
    DrainResult r = drain(t.server.get(), events, out);
    REQUIRE(r.status == Drain::full);
    CHECK(r.bytes == 32768);
    CHECK(pending(out) == data.substr(0, 32768));
    CHECK(t.waiting() == 50000 - 32768);
    // Under EPOLLET the data left behind is never reported again ...
    CHECK(t.edge(100) == 0u);
    // ... so the caller, told "full", makes room and drains again.
    out.consume(out.size());
    target(t.server.get());
    r = drain(t.server.get(), events, out);
    CHECK(r.status == Drain::drained);
    CHECK(r.bytes == 50000 - 32768);
    CHECK(pending(out) == data.substr(32768));
    CHECK(failures(Call::recv, EAGAIN) == 0);
}

TEST_CASE("a read that fills the space it was offered is followed by another read",
          "[exercise][ch03]") {
    FaultScope faults;
    Tcp t;
    OutBuffer out(8192);
    put(out, pattern(6000, 1));
    out.consume(4000); // pending at [4000, 6000): space() offers only the 2192 at the end
    REQUIRE(out.space().size() == 2192);
    t.send(pattern(3000, 2));
    target(t.server.get());
    DrainResult r = drain(t.server.get(), EPOLLIN, out);
    CHECK(r.status == Drain::drained);
    CHECK(r.bytes == 3000);
    CHECK(pending(out) == pattern(6000, 1).substr(4000) + pattern(3000, 2));
    CHECK(t.waiting() == 0);
}

TEST_CASE("bytes already buffered count against the limit", "[exercise][ch03]") {
    Tcp t;
    OutBuffer out(65536);
    put(out, std::string(60000, 'x'));
    t.send(pattern(10000));
    DrainResult r = drain(t.server.get(), EPOLLIN, out);
    CHECK(r.status == Drain::full);
    CHECK(r.bytes == 5536);
    CHECK(out.full());
    CHECK(t.waiting() == 10000 - 5536);
}

TEST_CASE("a buffer that is already full reads nothing and is not mistaken for end of file",
          "[exercise][ch03]") {
    FaultScope faults;
    Tcp t;
    t.send("still here");
    OutBuffer out(1000);
    put(out, std::string(1000, 'x'));
    target(t.server.get());
    DrainResult r = drain(t.server.get(), EPOLLIN, out);
    CHECK(r.status == Drain::full);
    CHECK(r.bytes == 0);
    CHECK(calls(Call::recv) == 0);
    CHECK(t.waiting() == 10);
}

TEST_CASE("an interrupted recv is retried", "[exercise][ch03]") {
    FaultScope faults;
    Tcp t;
    t.send("interrupted");
    target(t.server.get());
    inject_errors(Call::recv, {EINTR});
    OutBuffer out(4096);
    DrainResult r = drain(t.server.get(), EPOLLIN, out);
    CHECK(r.status == Drain::drained);
    CHECK(r.bytes == 11);
    CHECK(pending(out) == "interrupted");
    CHECK(calls(Call::recv) == 2);
}

TEST_CASE("an error after some data still counts the bytes that were read", "[exercise][ch03]") {
    FaultScope faults;
    Tcp t;
    t.send(pattern(500));
    target(t.server.get());
    // EPOLLRDHUP reported: the loop reads on after the short read, and that
    // second read fails.
    inject_errors(Call::recv, {0, ECONNRESET});
    OutBuffer out(4096);
    DrainResult r = drain(t.server.get(), EPOLLIN | EPOLLRDHUP, out);
    CHECK(r.status == Drain::failed);
    CHECK(r.error == ECONNRESET);
    CHECK(r.bytes == 500);
    CHECK(pending(out) == pattern(500));
    CHECK(calls(Call::recv) == 2);
}

TEST_CASE("a reset connection is reported as failed with ECONNRESET", "[exercise][ch03]") {
    Tcp t;
    linger hard{1, 0}; // close() sends RST instead of FIN
    REQUIRE(::setsockopt(t.client.get(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard) == 0);
    t.client.reset();
    uint32_t events = t.edge();
    REQUIRE((events & (EPOLLERR | EPOLLHUP)) != 0);
    OutBuffer out(4096);
    DrainResult r = drain(t.server.get(), events, out);
    CHECK(r.status == Drain::failed);
    CHECK(r.error == ECONNRESET);
    CHECK(r.bytes == 0);
}
