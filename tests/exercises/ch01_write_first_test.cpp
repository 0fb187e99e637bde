// Grades the ch01 write_first exercise (chapters/01-select/exercises/write_first.hpp)
// on non-blocking socket pairs with a small send buffer, so that send()
// soon meets EAGAIN. faults.hpp counts the sends on the server's socket and
// can make one of them short on a socket that has room.
#include "catch_compat.hpp"
#include "enum_names.hpp"
#include "faults.hpp"
#include "support.hpp"
#include "write_first.hpp"

#include <csignal>
#include <string>
#include <string_view>

using namespace ioladder::test;
using ioladder::ch01::OutBuffer;
using ioladder::ch01::Reply;
using ioladder::ch01::ReplyResult;
using ioladder::ch01::send_reply;

IOLADDER_ENUM_NAMES(ioladder::ch01::Reply, sent, queued, failed)

namespace {

std::span<const char> bytes(std::string_view s) {
    return {s.data(), s.size()};
}

std::string pending(const OutBuffer& b) {
    return b.empty() ? std::string() : std::string(b.pending().begin(), b.pending().end());
}

// Puts `s` into the buffer the way the servers do: space(), copy, commit().
void put(OutBuffer& out, std::string_view s) {
    while (!s.empty()) {
        std::span<char> space = out.space();
        std::size_t n = std::min(space.size(), s.size());
        REQUIRE(n > 0);
        std::memcpy(space.data(), s.data(), n);
        out.commit(n);
        s.remove_prefix(n);
    }
}

// n bytes that are not all the same, so a reordering shows.
std::string pattern(std::size_t n, std::size_t seed = 0) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i)
        s[i] = static_cast<char>('a' + ((i + seed) * 7 + (i + seed) / 251) % 26);
    return s;
}

// Reads whatever is available on a non-blocking socket.
std::string read_available(int fd) {
    std::string got;
    char buf[65536];
    for (;;) {
        ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) {
            got.append(buf, static_cast<std::size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        return got;
    }
}

// What the loop does when the socket is writable: send what is pending.
void flush(int fd, OutBuffer& out) {
    while (!out.empty()) {
        ssize_t n = ::send(fd, out.pending().data(), out.pending().size(), MSG_NOSIGNAL);
        if (n <= 0) return;
        out.consume(static_cast<std::size_t>(n));
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

ReplyResult reply(int fd, std::string_view text, OutBuffer& out) {
    STEP("send_reply of " + std::to_string(text.size()) + " bytes");
    return send_reply(fd, bytes(text), out);
}

} // namespace

TEST_CASE("a reply to an idle connection is sent at once and nothing is buffered",
          "[exercise][ch01]") {
    FaultScope faults;
    auto [a, b] = small_socketpair();
    target(a.get());
    OutBuffer out(4096);
    ReplyResult r = reply(a.get(), "hello, world\n", out);
    REQUIRE(r.status == Reply::sent);
    CHECK(r.sent == 13);
    CHECK(r.error == 0);
    CHECK(out.empty());
    CHECK(calls(Call::send) == 1);
    REQUIRE(wait_for(b.get(), POLLIN) != 0);
    CHECK(read_available(b.get()) == "hello, world\n");
}

TEST_CASE("a short write is followed by another send, not taken for a full socket",
          "[exercise][ch01]") {
    FaultScope faults;
    auto [a, b] = small_socketpair();
    target(a.get());
    OutBuffer out(4096);
    shorten_next_send(5); // the socket has room, but this send takes 5 bytes
    ReplyResult r = reply(a.get(), "a short write is not EAGAIN", out);
    INFO("only EAGAIN says the socket is full; after a short write, send the rest");
    REQUIRE(r.status == Reply::sent);
    CHECK(r.sent == 27);
    CHECK(out.empty());
    CHECK(partial_sends() == 1);
    CHECK(calls(Call::send) == 2);
    CHECK(failures(Call::send, EAGAIN) == 0);
    REQUIRE(wait_for(b.get(), POLLIN) != 0);
    CHECK(read_available(b.get()) == "a short write is not EAGAIN");
}

TEST_CASE("only EAGAIN queues the reply, and the unsent rest is buffered in order",
          "[exercise][ch01]") {
    FaultScope faults;
    auto [a, b] = small_socketpair();
    target(a.get());
    const std::size_t total = 200 * 1024; // far more than the socket takes at once
    OutBuffer out(256 * 1024);
    const std::string data = pattern(total);
    ReplyResult r = reply(a.get(), data, out);
    REQUIRE(r.status == Reply::queued);
    CHECK(r.error == 0);
    REQUIRE(r.sent > 0);
    REQUIRE(r.sent < total);
    CHECK(failures(Call::send, EAGAIN) == 1); // it stopped at the first EAGAIN
    CHECK(out.size() == total - r.sent);
    CHECK(pending(out) == data.substr(r.sent));
    // The peer has exactly the part that was sent, and the rest follows in order.
    std::string got = read_available(b.get());
    CHECK(got == data.substr(0, r.sent));
    auto deadline = Clock::now() + std::chrono::seconds(5);
    while (!out.empty() && Clock::now() < deadline) {
        flush(a.get(), out);
        got += read_available(b.get());
    }
    got += read_available(b.get());
    CHECK(got == data);
}

TEST_CASE("a reply behind pending bytes is queued after them without a system call",
          "[exercise][ch01]") {
    FaultScope faults;
    auto [a, b] = small_socketpair();
    target(a.get());
    OutBuffer out(4096);
    put(out, "first ");
    ReplyResult r = reply(a.get(), "second", out);
    CHECK(r.status == Reply::queued);
    CHECK(r.sent == 0);
    CHECK(calls(Call::send) == 0);
    CHECK(pending(out) == "first second");
    CHECK(read_available(b.get()).empty());
}

TEST_CASE("a reply that only fits in the split free space is queued whole", "[exercise][ch01]") {
    FaultScope faults;
    auto [a, b] = small_socketpair();
    OutBuffer out(16);
    put(out, "0123456789");
    out.consume(6); // pending "6789" at [6, 10); free: 6 at the end, 6 at the front
    REQUIRE(out.room() == 12);
    REQUIRE(out.space().size() == 6);
    ReplyResult r = reply(a.get(), "abcdefghij", out); // 10 bytes: more than space() offers
    CHECK(r.status == Reply::queued);
    CHECK(pending(out) == "6789abcdefghij");
    CHECK(out.room() == 2);
}

TEST_CASE("an interrupted send is retried", "[exercise][ch01]") {
    FaultScope faults;
    auto [a, b] = small_socketpair();
    target(a.get());
    OutBuffer out(64);
    inject_errors(Call::send, {EINTR, EINTR});
    ReplyResult r = reply(a.get(), "interrupted, not lost", out);
    REQUIRE(r.status == Reply::sent);
    CHECK(r.sent == 21);
    CHECK(out.empty());
    CHECK(calls(Call::send) == 3); // two interrupted, one real
    REQUIRE(wait_for(b.get(), POLLIN) != 0);
    CHECK(read_available(b.get()) == "interrupted, not lost");
}

TEST_CASE("a closed peer fails the reply with EPIPE instead of raising SIGPIPE",
          "[exercise][ch01]") {
    FaultScope faults;
    auto [a, b] = small_socketpair();
    b.reset();
    OutBuffer out(64);
    SigpipeBlocked sigpipe;
    ReplyResult r = reply(a.get(), "anyone there?", out);
    CHECK(r.status == Reply::failed);
    CHECK(r.error == EPIPE);
    INFO("send() without MSG_NOSIGNAL raises SIGPIPE, which kills a server");
    CHECK_FALSE(sigpipe.raised());
}

TEST_CASE("a reset connection fails the reply with its errno", "[exercise][ch01]") {
    FaultScope faults;
    Fd listener = tcp_listener();
    Fd client = tcp_connect(listener.get());
    REQUIRE(wait_for(listener.get(), POLLIN) != 0);
    Fd server(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    REQUIRE(server.get() >= 0);
    linger hard{1, 0}; // close() sends RST instead of FIN
    REQUIRE(::setsockopt(server.get(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard) == 0);
    server.reset();
    REQUIRE((wait_for(client.get(), POLLIN) & (POLLERR | POLLHUP)) != 0);
    ::fcntl(client.get(), F_SETFL, O_NONBLOCK);
    OutBuffer out(64);
    SigpipeBlocked sigpipe;
    ReplyResult r = reply(client.get(), "too late", out);
    CHECK(r.status == Reply::failed);
    CHECK((r.error == ECONNRESET || r.error == EPIPE));
    CHECK_FALSE(sigpipe.raised());
}

TEST_CASE("replies to a slow reader arrive whole and in order, buffered only when the socket "
          "is full",
          "[exercise][ch01]") {
    // The loop in miniature: make a reply when there is room for it, flush
    // when writable, and let the peer read a little now and then.
    FaultScope faults;
    auto [a, b] = small_socketpair();
    target(a.get());
    OutBuffer out(16 * 1024);
    std::string expected, got;
    int sent_at_once = 0, queued = 0;
    auto deadline = Clock::now() + std::chrono::seconds(10);
    for (std::size_t i = 0; i < 2000 && Clock::now() < deadline; ++i) {
        std::string text = pattern(1 + (i * 37) % 3000, i);
        while (out.room() < text.size() && Clock::now() < deadline) {
            flush(a.get(), out);
            got += read_available(b.get());
        }
        bool was_empty = out.empty();
        int sends_before = calls(Call::send);
        ReplyResult r = reply(a.get(), text, out);
        REQUIRE(r.status != Reply::failed);
        if (!was_empty) REQUIRE(calls(Call::send) == sends_before); // never sent past pending bytes
        (r.status == Reply::sent ? sent_at_once : queued) += 1;
        CHECK((r.status == Reply::sent) == out.empty());
        expected += text;
        if (i % 7 == 0) got += read_available(b.get());
    }
    while (!out.empty() && Clock::now() < deadline) {
        flush(a.get(), out);
        got += read_available(b.get());
    }
    got += read_available(b.get());
    INFO(sent_at_once << " replies sent at once, " << queued << " queued");
    CHECK(got.size() == expected.size());
    CHECK(got == expected);
    CHECK(sent_at_once > 0);
    CHECK(queued > 0);
}
