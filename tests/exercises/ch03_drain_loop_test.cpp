// Grades the ch03 drain_loop exercise (chapters/03-epoll-edge/exercises/drain_loop.hpp)
// on real sockets, including the case that makes it matter: under EPOLLET a
// drain that stopped at a full buffer gets no second report for what is left.
#include "catch_compat.hpp"
#include "drain_loop.hpp"
#include "support.hpp"

#include <netinet/in.h>
#include <sys/epoll.h>

using namespace ioladder::test;
using ioladder::ch03::Drain;
using ioladder::ch03::drain_reads;
using ioladder::ch03::DrainResult;

namespace {

// A connected, non-blocking AF_UNIX stream pair with room for a few hundred
// KiB in flight, so a test can queue 100 000 bytes before reading.
std::pair<Fd, Fd> roomy_socketpair() {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        fail_errno("socketpair");
    int big = 1 << 20;
    ::setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    return {Fd(sv[0]), Fd(sv[1])};
}

std::string pattern(std::size_t n) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i)
        s[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
    return s;
}

// Writes all of `data` to the writer end (which has room for it).
void put(int fd, const std::string& data) {
    std::size_t done = 0;
    while (done < data.size()) {
        ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
        if (n > 0) {
            done += static_cast<std::size_t>(n);
        } else if (n < 0 && errno == EAGAIN) {
            REQUIRE(wait_for(fd, POLLOUT) != 0);
        } else {
            fail_errno("send");
        }
    }
}

// Bytes waiting in the socket, without reading them.
std::size_t waiting(int fd) {
    char buf[1 << 17];
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
    return n > 0 ? static_cast<std::size_t>(n) : 0;
}

} // namespace

TEST_CASE("an empty socket is reported drained at once", "[exercise][ch03]") {
    auto [a, b] = roomy_socketpair();
    std::string buf;
    DrainResult r = drain_reads(b.get(), buf, 64 * 1024);
    CHECK(r.status == Drain::drained);
    CHECK(r.bytes == 0);
    CHECK(r.error == 0);
    CHECK(buf.empty());
}

TEST_CASE("everything waiting below the limit is read until EAGAIN", "[exercise][ch03]") {
    auto [a, b] = roomy_socketpair();
    const std::string data = pattern(40000);
    put(a.get(), data);
    std::string buf;
    DrainResult r = drain_reads(b.get(), buf, 64 * 1024);
    CHECK(r.status == Drain::drained);
    CHECK(r.bytes == data.size());
    CHECK(buf == data);
    CHECK(waiting(b.get()) == 0);
}

TEST_CASE("reading stops at the limit and reports full with the rest still in the socket",
          "[exercise][ch03]") {
    auto [a, b] = roomy_socketpair();
    const std::string data = pattern(100000);
    put(a.get(), data);
    std::string buf;
    DrainResult r = drain_reads(b.get(), buf, 65536);
    REQUIRE(r.status == Drain::full);
    CHECK(r.bytes == 65536);
    CHECK(buf == data.substr(0, 65536));
    CHECK(waiting(b.get()) == 100000 - 65536);
}

TEST_CASE("bytes already buffered count against the limit", "[exercise][ch03]") {
    auto [a, b] = roomy_socketpair();
    std::string buf(60000, 'x');
    put(a.get(), pattern(10000));
    DrainResult r = drain_reads(b.get(), buf, 65536);
    CHECK(r.status == Drain::full);
    CHECK(r.bytes == 5536);
    CHECK(buf.size() == 65536);
    CHECK(buf.substr(60000) == pattern(10000).substr(0, 5536));
}

TEST_CASE("a buffer that is already full reads nothing and is not mistaken for end of file",
          "[exercise][ch03]") {
    auto [a, b] = roomy_socketpair();
    put(a.get(), "still here");
    std::string buf(1000, 'x');
    DrainResult r = drain_reads(b.get(), buf, 1000);
    CHECK(r.status == Drain::full);
    CHECK(r.bytes == 0);
    CHECK(buf.size() == 1000);
    CHECK(waiting(b.get()) == 10);
}

TEST_CASE("under EPOLLET data left behind at full is never reported again, and a second drain "
          "after making room gets it",
          "[exercise][ch03]") {
    auto [a, b] = roomy_socketpair();
    Fd ep(::epoll_create1(EPOLL_CLOEXEC));
    REQUIRE(ep.get() >= 0);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLET;
    ev.data.fd = b.get();
    REQUIRE(::epoll_ctl(ep.get(), EPOLL_CTL_ADD, b.get(), &ev) == 0);

    const std::string data = pattern(100000);
    put(a.get(), data);
    epoll_event got[4];
    REQUIRE(::epoll_wait(ep.get(), got, 4, 2000) == 1); // the edge

    std::string buf;
    DrainResult r = drain_reads(b.get(), buf, 65536);
    REQUIRE(r.status == Drain::full);
    // The socket is still readable, and poll(), which is level-triggered, says so ...
    CHECK((wait_for(b.get(), POLLIN, 0) & POLLIN) != 0);
    // ... but the edge-triggered registration stays silent: no new data, no edge.
    CHECK(::epoll_wait(ep.get(), got, 4, 100) == 0);

    // The caller remembered "full = still readable": it makes room and drains again.
    std::string echoed = buf;
    buf.clear();
    r = drain_reads(b.get(), buf, 65536);
    CHECK(r.status == Drain::drained);
    CHECK(r.bytes == 100000 - 65536);
    CHECK(echoed + buf == data);
}

TEST_CASE("a peer that closes is reported after its last bytes are in the buffer",
          "[exercise][ch03]") {
    auto [a, b] = roomy_socketpair();
    put(a.get(), "last words");
    REQUIRE(::shutdown(a.get(), SHUT_WR) == 0);
    std::string buf;
    DrainResult r = drain_reads(b.get(), buf, 65536);
    CHECK(r.status == Drain::peer_closed);
    CHECK(r.bytes == 10);
    CHECK(buf == "last words");
}

TEST_CASE("a reset connection is reported as failed with ECONNRESET", "[exercise][ch03]") {
    Fd listener = tcp_listener();
    Fd client = tcp_connect(listener.get());
    REQUIRE(wait_for(listener.get(), POLLIN) != 0);
    Fd server(::accept4(listener.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    REQUIRE(server.get() >= 0);
    // Linger with a zero timeout: close() sends RST instead of FIN.
    linger hard{1, 0};
    REQUIRE(::setsockopt(client.get(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard) == 0);
    client.reset();
    REQUIRE((wait_for(server.get(), POLLIN) & (POLLIN | POLLERR | POLLHUP)) != 0);
    std::string buf;
    DrainResult r = drain_reads(server.get(), buf, 65536);
    CHECK(r.status == Drain::failed);
    CHECK(r.error == ECONNRESET);
}
