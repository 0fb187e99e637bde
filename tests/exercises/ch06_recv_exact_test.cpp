// Grades the ch06 recv_exact exercise (chapters/06-uring/exercises/recv_exact.hpp)
// on a real ring (the chapter's Ring) with stream sockets: an AF_UNIX pair,
// and TCP over loopback. Each SQE the exercise fills is submitted as it is;
// an SQE left zeroed is a NOP, whose CQE (res 0) fails every check here.
#include "catch_compat.hpp"
#include "ch06_uring_support.hpp"
#include "recv_exact.hpp"
#include "support.hpp"

#include <cstring>
#include <sstream>
#include <thread>
#include <vector>

using namespace ioladder::test;
using namespace ioladder::test::uring;
using ioladder::ch06::prep_recv_exact;
using ioladder::ch06::prep_recv_multishot;

namespace {

constexpr uint64_t kTag = 0x5eed'0000'0000'0042;

void send_all(int fd, const std::string& s) {
    std::size_t done = 0;
    while (done < s.size()) {
        ssize_t n = ::send(fd, s.data() + done, s.size() - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) fail_errno("send");
        done += static_cast<std::size_t>(n);
    }
}

std::string describe(const std::vector<io_uring_cqe>& cqes) {
    std::ostringstream out;
    out << cqes.size() << " CQE(s)";
    for (const io_uring_cqe& c : cqes)
        out << "; user_data 0x" << std::hex << c.user_data << std::dec << " res " << c.res
            << " flags 0x" << std::hex << c.flags << std::dec;
    return out.str();
}

void submit_exact(Ring& ring, int fd, void* buf, unsigned len) {
    io_uring_sqe* s = next_sqe(ring);
    STEP("prep_recv_exact");
    prep_recv_exact(s, fd, buf, len, kTag);
    REQUIRE(ring.submit() >= 0);
}

// A stream pair and a ring, with an exact receive of N bytes into buf
// (filled with '#' first) submitted on our end.
template <std::size_t N>
struct ExactReceive {
    char buf[N];
    std::pair<Fd, Fd> sockets = stream_pair();
    Ring ring{Ring::Setup{}};
    ExactReceive() {
        std::memset(buf, '#', N);
        submit_exact(ring, ours(), buf, N);
    }
    int ours() const { return sockets.first.get(); }
    int peer() const { return sockets.second.get(); }
};

std::string pattern(std::size_t n) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i)
        s[i] = static_cast<char>('a' + (i * 7 + i / 4096) % 26);
    return s;
}

} // namespace

TEST_CASE("a record sent in two parts with a pause arrives in one CQE, whole", "[exercise][ch06]") {
    IOLADDER_NEEDS_URING();
    ExactReceive<16> t;
    send_all(t.peer(), "0123456");
    std::vector<io_uring_cqe> early = collect(t.ring, 1, 150);
    {
        INFO("after 7 of the 16 bytes: " << describe(early));
        INFO("a CQE now means the receive ended short, or the SQE was not a receive at all");
        CHECK(early.empty());
    }

    send_all(t.peer(), "789abcdefTAIL"); // the record's last 9 bytes, and 4 of the next
    std::vector<io_uring_cqe> got = collect(t.ring, 1);
    got.insert(got.begin(), early.begin(), early.end());
    INFO("in all: " << describe(got));
    REQUIRE(got.size() == 1);
    CHECK(got[0].user_data == kTag);
    CHECK(got[0].res == 16);
    CHECK(bytes(t.buf, sizeof t.buf) == "0123456789abcdef");
    char rest[8];
    INFO("the bytes after the record stay in the socket for the next receive");
    REQUIRE(::recv(t.ours(), rest, sizeof rest, MSG_DONTWAIT) == 4);
    CHECK(bytes(rest, 4) == "TAIL");
}

TEST_CASE("a megabyte over TCP arrives in one CQE, however many segments it takes",
          "[exercise][ch06]") {
    IOLADDER_NEEDS_URING();
    const std::string data = pattern(1 << 20);
    std::vector<char> buf(data.size(), '#');
    Fd listener = tcp_listener();
    Fd client = tcp_connect(listener.get());
    REQUIRE(wait_for(listener.get(), POLLIN) != 0);
    Fd server(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    REQUIRE(server.get() >= 0);
    Ring ring(Ring::Setup{});
    submit_exact(ring, server.get(), buf.data(), static_cast<unsigned>(buf.size()));

    // The socket buffers hold far less than a megabyte: the kernel has to
    // receive again and again before the record is complete.
    std::thread sender([&] {
        try {
            send_all(client.get(), data);
        } catch (const std::exception&) { // the receiver gave up and shut the socket
        }
    });
    std::vector<io_uring_cqe> got = collect(ring, 1, 5000);
    std::vector<io_uring_cqe> more = collect(ring, 1, 50);
    ::shutdown(server.get(), SHUT_RDWR); // so that a sender nobody reads from stops
    sender.join();
    got.insert(got.end(), more.begin(), more.end());
    INFO(describe(got));
    REQUIRE(got.size() == 1);
    CHECK(got[0].user_data == kTag);
    CHECK(got[0].res == static_cast<int>(data.size()));
    CHECK(std::memcmp(buf.data(), data.data(), data.size()) == 0);
}

TEST_CASE("a peer that closes early completes the receive with the bytes that did arrive",
          "[exercise][ch06]") {
    IOLADDER_NEEDS_URING();
    ExactReceive<10> t;
    send_all(t.peer(), "abc");
    std::vector<io_uring_cqe> got = collect(t.ring, 1, 50);
    send_all(t.peer(), "de");
    std::vector<io_uring_cqe> more = collect(t.ring, 1, 50);
    got.insert(got.end(), more.begin(), more.end());
    ::shutdown(t.peer(), SHUT_WR); // FIN: 5 of the 10 bytes will ever come
    more = collect(t.ring, 1);
    got.insert(got.end(), more.begin(), more.end());
    INFO(describe(got));
    REQUIRE(got.size() == 1);
    CHECK(got[0].user_data == kTag);
    CHECK(got[0].res == 5);
    CHECK(bytes(t.buf, 5) == "abcde");
}

TEST_CASE("one multishot receive posts a CQE per arrival, each in a buffer from the group",
          "[exercise][ch06]") {
    IOLADDER_NEEDS_URING();
    auto [ours, peer] = stream_pair();
    Ring ring(Ring::Setup{});
    Buffers buffers(8, 64);
    constexpr uint16_t kGroup = 7;
    if (auto why = no_multishot_recv(ring, buffers, kGroup)) IOLADDER_SKIP(*why);
    io_uring_sqe* s = next_sqe(ring);
    STEP("prep_recv_multishot");
    prep_recv_multishot(s, ours.get(), kGroup, kTag);
    REQUIRE(ring.submit() >= 0);

    std::vector<unsigned> ids;
    for (const char* message : {"first", "second one", "third"}) {
        send_all(peer.get(), message);
        std::vector<io_uring_cqe> got = collect(ring, 1);
        std::vector<io_uring_cqe> more = collect(ring, 1, 20);
        got.insert(got.end(), more.begin(), more.end());
        INFO("after sending \"" << message << "\": " << describe(got));
        REQUIRE(got.size() == 1);
        const io_uring_cqe& c = got[0];
        CHECK(c.user_data == kTag);
        REQUIRE(c.res == static_cast<int>(std::strlen(message)));
        INFO("IORING_CQE_F_MORE: the receive is still armed");
        REQUIRE((c.flags & IORING_CQE_F_MORE) != 0);
        INFO("IORING_CQE_F_BUFFER: the kernel picked the buffer");
        REQUIRE((c.flags & IORING_CQE_F_BUFFER) != 0);
        unsigned id = c.flags >> IORING_CQE_BUFFER_SHIFT;
        REQUIRE(id < 8);
        CHECK(bytes(buffers.data(id), static_cast<std::size_t>(c.res)) == message);
        for (unsigned seen : ids)
            CHECK(seen != id); // none went back to the ring: each arrival takes a new one
        ids.push_back(id);
    }

    ::shutdown(peer.get(), SHUT_WR);
    std::vector<io_uring_cqe> last = collect(ring, 1);
    INFO("after the peer's FIN: " << describe(last));
    REQUIRE(last.size() == 1);
    CHECK(last[0].user_data == kTag);
    CHECK(last[0].res == 0);
    CHECK((last[0].flags & IORING_CQE_F_MORE) == 0); // over: nothing more will come
}
