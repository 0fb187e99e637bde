// Grades the ch01 out_buffer exercise (chapters/01-select/exercises/out_buffer.hpp):
// the buffer on its own, then flush() against real non-blocking sockets with
// a send buffer small enough that send() takes only part of what it is given.
#include "catch_compat.hpp"
#include "faults.hpp"
#include "out_buffer.hpp"
#include "support.hpp"

#include <csignal>
#include <deque>
#include <random>
#include <string>
#include <string_view>
#include <vector>

using namespace ioladder::test;
using ioladder::ch01::Flush;
using ioladder::ch01::flush;
using ioladder::ch01::FlushResult;
using ioladder::ch01::OutBuffer;

namespace {

std::span<const char> bytes(std::string_view s) {
    return {s.data(), s.size()};
}

std::string pending(const OutBuffer& b) {
    return {b.pending().begin(), b.pending().end()};
}

// n bytes that are not all the same, so a reordering shows.
std::string pattern(std::size_t n) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i)
        s[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
    return s;
}

// Reads whatever is available on a non-blocking socket.
std::string read_available(int fd) {
    std::string got;
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n > 0) {
            got.append(buf, static_cast<std::size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        return got;
    }
}

// SIGPIPE blocked for the scope, so a send() without MSG_NOSIGNAL leaves it
// pending (the test can see it) instead of killing the test.
struct SigpipeBlocked {
    sigset_t set, old;
    SigpipeBlocked() {
        sigemptyset(&set);
        sigaddset(&set, SIGPIPE);
        pthread_sigmask(SIG_BLOCK, &set, &old);
    }
    bool raised() {
        sigset_t p;
        sigpending(&p);
        return sigismember(&p, SIGPIPE) == 1;
    }
    ~SigpipeBlocked() {
        timespec zero{};
        while (raised())
            sigtimedwait(&set, nullptr, &zero);
        pthread_sigmask(SIG_SETMASK, &old, nullptr);
    }
};

} // namespace

TEST_CASE("append takes at most the room left and never grows the buffer", "[exercise][ch01]") {
    OutBuffer b(8);
    CHECK(b.append(bytes("abcde")) == 5);
    CHECK(b.room() == 3);
    CHECK(b.append(bytes("fghij")) == 3);
    CHECK(b.full());
    CHECK(b.append(bytes("k")) == 0);
    CHECK(b.capacity() == 8);
    CHECK(pending(b) == "abcdefgh");
}

TEST_CASE("consume drops bytes from the front and keeps the rest in order", "[exercise][ch01]") {
    OutBuffer b(32);
    REQUIRE(b.append(bytes("hello, world")) == 12);
    b.consume(7);
    CHECK(pending(b) == "world");
    CHECK(b.size() == 5);
    CHECK(b.room() == 27);
    b.consume(5);
    CHECK(b.empty());
    CHECK(b.room() == 32);
}

TEST_CASE("space freed by consume at the front can be filled again", "[exercise][ch01]") {
    OutBuffer b(4);
    REQUIRE(b.append(bytes("abcd")) == 4);
    b.consume(3);
    CHECK(b.room() == 3);
    CHECK(b.append(bytes("xyz!")) == 3); // only fits if "d" moves to the front
    CHECK(pending(b) == "dxyz");
    CHECK(b.full());
}

TEST_CASE("any mix of appends and consumes keeps every byte in order", "[exercise][ch01]") {
    OutBuffer b(64);
    std::deque<char> model;
    std::mt19937 rng(12345);
    std::string source = pattern(100000);
    std::size_t next = 0;
    for (int step = 0; step < 5000 && next < source.size(); ++step) {
        std::size_t want = rng() % 40;
        std::size_t room = 64 - model.size();
        std::size_t took = b.append(
            std::span<const char>(source.data() + next, std::min(want, source.size() - next)));
        REQUIRE(took == std::min({want, room, source.size() - next}));
        model.insert(model.end(), source.begin() + static_cast<long>(next),
                     source.begin() + static_cast<long>(next + took));
        next += took;
        std::size_t drop = rng() % (model.size() + 1);
        b.consume(drop);
        model.erase(model.begin(), model.begin() + static_cast<long>(drop));
        REQUIRE(pending(b) == std::string(model.begin(), model.end()));
    }
    CHECK(next > 50000);
}

TEST_CASE("flushing an empty buffer is drained and sends nothing", "[exercise][ch01]") {
    FaultScope faults;
    auto [a, b] = small_socketpair();
    OutBuffer out(16);
    FlushResult r = flush(a.get(), out);
    CHECK(r.status == Flush::drained);
    CHECK(r.sent == 0);
    CHECK(calls(Call::send) == 0);
}

TEST_CASE("flush sends everything when the socket has room", "[exercise][ch01]") {
    FaultScope faults;
    auto [a, b] = small_socketpair();
    OutBuffer out(1000);
    std::string data = pattern(1000);
    REQUIRE(out.append(bytes(data)) == 1000);
    FlushResult r = flush(a.get(), out);
    CHECK(r.status == Flush::drained);
    CHECK(r.sent == 1000);
    CHECK(r.error == 0);
    CHECK(out.empty());
    REQUIRE(wait_for(b.get(), POLLIN) != 0);
    CHECK(read_available(b.get()) == data);
}

TEST_CASE("flush stops when the socket is full and keeps the unsent bytes in order",
          "[exercise][ch01]") {
    FaultScope faults;
    auto [a, b] = small_socketpair();
    const std::size_t total = 256 * 1024; // far more than the socket takes at once
    OutBuffer out(total);
    std::string data = pattern(total);
    REQUIRE(out.append(bytes(data)) == total);

    FlushResult r = flush(a.get(), out);
    CHECK(r.status == Flush::blocked);
    CHECK(r.error == 0);
    REQUIRE(r.sent > 0);
    REQUIRE(r.sent < total);
    CHECK(out.size() == total - r.sent);
    CHECK(partial_sends() >= 1); // send() really took only part of its input
    // What is still buffered is exactly what the peer has not been sent.
    CHECK(pending(out) == data.substr(r.sent));

    // The rest goes out as the peer reads, over many flushes, in order.
    std::string got = read_available(b.get());
    auto deadline = Clock::now() + std::chrono::seconds(5);
    while (!out.empty() && Clock::now() < deadline) {
        r = flush(a.get(), out);
        REQUIRE((r.status == Flush::blocked || r.status == Flush::drained));
        got += read_available(b.get());
    }
    CHECK(out.empty());
    CHECK(r.status == Flush::drained);
    got += read_available(b.get());
    CHECK(got.size() == total);
    CHECK(got == data);
}

TEST_CASE("a megabyte through a small buffer arrives whole and in order", "[exercise][ch01]") {
    // The echo loop in miniature: read as much as fits, flush, repeat.
    FaultScope faults;
    auto [a, b] = small_socketpair();
    const std::size_t total = 1 << 20;
    std::string data = pattern(total);
    OutBuffer out(16 * 1024);
    std::size_t appended = 0;
    std::string got;
    auto deadline = Clock::now() + std::chrono::seconds(10);
    while (got.size() < total && Clock::now() < deadline) {
        appended += out.append(std::span<const char>(data.data() + appended, total - appended));
        FlushResult r = flush(a.get(), out);
        REQUIRE((r.status == Flush::blocked || r.status == Flush::drained));
        got += read_available(b.get());
    }
    CHECK(appended == total);
    CHECK(got.size() == total);
    CHECK(got == data);
    CHECK(partial_sends() >= 1);
}

TEST_CASE("flush retries a send interrupted by a signal", "[exercise][ch01]") {
    FaultScope faults;
    auto [a, b] = small_socketpair();
    OutBuffer out(64);
    REQUIRE(out.append(bytes("interrupted, not lost")) == 21);
    inject_errors(Call::send, {EINTR, EINTR});
    FlushResult r = flush(a.get(), out);
    CHECK(r.status == Flush::drained);
    CHECK(r.sent == 21);
    CHECK(calls(Call::send) == 3); // two interrupted, one real
    REQUIRE(wait_for(b.get(), POLLIN) != 0);
    CHECK(read_available(b.get()) == "interrupted, not lost");
}

TEST_CASE("flush reports a closed peer as gone instead of dying of SIGPIPE", "[exercise][ch01]") {
    FaultScope faults;
    auto [a, b] = small_socketpair();
    b.reset();
    OutBuffer out(64);
    REQUIRE(out.append(bytes("anyone there?")) == 13);
    SigpipeBlocked sigpipe;
    FlushResult r = flush(a.get(), out);
    CHECK(r.status == Flush::peer_gone);
    CHECK(r.error == EPIPE);
    INFO("send() without MSG_NOSIGNAL raises SIGPIPE, which kills a server");
    CHECK_FALSE(sigpipe.raised());
}

TEST_CASE("flush reports a reset connection as a peer that is gone", "[exercise][ch01]") {
    FaultScope faults;
    Fd listener = tcp_listener();
    Fd client = tcp_connect(listener.get());
    REQUIRE(wait_for(listener.get(), POLLIN) != 0);
    Fd server(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    REQUIRE(server.get() >= 0);
    // Linger with a zero timeout: close() sends RST instead of FIN.
    linger hard{1, 0};
    REQUIRE(::setsockopt(server.get(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard) == 0);
    server.reset();
    REQUIRE((wait_for(client.get(), POLLIN) & (POLLERR | POLLHUP)) != 0);
    ::fcntl(client.get(), F_SETFL, O_NONBLOCK);

    OutBuffer out(64);
    REQUIRE(out.append(bytes("too late")) == 8);
    SigpipeBlocked sigpipe;
    FlushResult r = flush(client.get(), out);
    CHECK(r.status == Flush::peer_gone);
    CHECK((r.error == ECONNRESET || r.error == EPIPE));
    CHECK_FALSE(sigpipe.raised());
}

TEST_CASE("flush reports any other error with its errno and keeps the data", "[exercise][ch01]") {
    FaultScope faults;
    int p[2];
    REQUIRE(::pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
    Fd rd(p[0]), wr(p[1]);
    OutBuffer out(64);
    REQUIRE(out.append(bytes("not a socket")) == 12);
    FlushResult r = flush(wr.get(), out); // send() on a pipe: ENOTSOCK
    CHECK(r.status == Flush::failed);
    CHECK(r.error == ENOTSOCK);
    CHECK(r.sent == 0);
    CHECK(pending(out) == "not a socket");
}
