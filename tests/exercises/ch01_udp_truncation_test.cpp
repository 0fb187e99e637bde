// Grades the ch01 udp_truncation exercise (chapters/01-select/exercises/udp_truncation.hpp).
#include "catch_compat.hpp"
#include "enum_names.hpp"
#include "faults.hpp"
#include "support.hpp"
#include "udp_truncation.hpp"

#include <string>
#include <vector>

using namespace ioladder::test;
using ioladder::ch01::Recv;
using ioladder::ch01::recv_datagram;
using ioladder::ch01::RecvResult;

IOLADDER_ENUM_NAMES(ioladder::ch01::Recv, datagram, truncated, none, failed)

namespace {

struct Pair {
    Fd receiver = udp_socket();
    Fd sender = udp_socket();

    // Sends one datagram to the receiver and waits until it has arrived.
    void send(const std::string& payload) {
        sockaddr_in to = local_address(receiver.get());
        REQUIRE(::sendto(sender.get(), payload.data(), payload.size(), 0,
                         reinterpret_cast<sockaddr*>(&to),
                         sizeof to) == static_cast<ssize_t>(payload.size()));
        REQUIRE(wait_for(receiver.get(), POLLIN) != 0);
    }
};

RecvResult receive(int fd, std::span<char> buf) {
    STEP("recv_datagram into " + std::to_string(buf.size()) + " bytes");
    return recv_datagram(fd, buf);
}

// True when `r.from` is the address `fd` is bound to.
bool from_is(const RecvResult& r, int fd) {
    sockaddr_in want = local_address(fd);
    if (r.from_len != sizeof(sockaddr_in) || r.from.ss_family != AF_INET) return false;
    const auto& got = reinterpret_cast<const sockaddr_in&>(r.from);
    return got.sin_port == want.sin_port && got.sin_addr.s_addr == want.sin_addr.s_addr;
}

} // namespace

TEST_CASE("a datagram that fits is received whole with its size and sender", "[exercise][ch01]") {
    FaultScope faults;
    Pair p;
    p.send("hello");
    std::vector<char> buf(64, '\0');
    RecvResult r = receive(p.receiver.get(), buf);
    CHECK(r.status == Recv::datagram);
    CHECK(r.size == 5);
    CHECK(r.error == 0);
    CHECK(std::string(buf.data(), 5) == "hello");
    CHECK(from_is(r, p.sender.get()));
}

TEST_CASE("a datagram exactly the size of the buffer is not truncated", "[exercise][ch01]") {
    FaultScope faults;
    Pair p;
    std::string exact(64, 'x');
    p.send(exact);
    std::vector<char> buf(64, '\0');
    RecvResult r = receive(p.receiver.get(), buf);
    CHECK(r.status == Recv::datagram);
    CHECK(r.size == 64);
    CHECK(std::string(buf.begin(), buf.end()) == exact);
}

TEST_CASE("a datagram larger than the buffer is reported truncated with its real length",
          "[exercise][ch01]") {
    FaultScope faults;
    Pair p;
    p.send(std::string(100, 'y'));
    std::vector<char> buf(64, '\0');
    RecvResult r = receive(p.receiver.get(), buf);
    CHECK(r.status == Recv::truncated);
    CHECK(r.size == 100);
    CHECK(from_is(r, p.sender.get())); // the server can still tell that client
}

TEST_CASE("the datagram after a truncated one arrives intact", "[exercise][ch01]") {
    FaultScope faults;
    Pair p;
    p.send(std::string(1000, 'z'));
    p.send("ok");
    std::vector<char> buf(64, '\0');
    RecvResult first = receive(p.receiver.get(), buf);
    CHECK(first.status == Recv::truncated);
    RecvResult second = receive(p.receiver.get(), buf);
    CHECK(second.status == Recv::datagram);
    CHECK(second.size == 2);
    CHECK(std::string(buf.data(), 2) == "ok");
}

TEST_CASE("an empty datagram is a datagram, not the end of the stream", "[exercise][ch01]") {
    FaultScope faults;
    Pair p;
    p.send("");
    std::vector<char> buf(64, '\0');
    RecvResult r = receive(p.receiver.get(), buf);
    CHECK(r.status == Recv::datagram);
    CHECK(r.size == 0);
    CHECK(from_is(r, p.sender.get()));
}

TEST_CASE("no datagram waiting is reported as none", "[exercise][ch01]") {
    FaultScope faults;
    Pair p;
    std::vector<char> buf(64, '\0');
    RecvResult r = receive(p.receiver.get(), buf);
    CHECK(r.status == Recv::none);
    CHECK(r.error == 0);
}

TEST_CASE("a receive interrupted by a signal is retried", "[exercise][ch01]") {
    FaultScope faults;
    Pair p;
    p.send("again");
    // Whichever receive call the answer uses (recvmsg, recvfrom, recv, read),
    // the first one on the receiver fails with EINTR.
    target(p.receiver.get());
    inject_errors(Call::recv, {EINTR});
    std::vector<char> buf(64, '\0');
    RecvResult r = receive(p.receiver.get(), buf);
    CHECK(r.status == Recv::datagram);
    CHECK(r.size == 5);
    CHECK(calls(Call::recv) == 2); // the interrupted call, then the real one
    CHECK(from_is(r, p.sender.get()));
}

TEST_CASE("a truncated datagram after an interrupted receive still reports its real length",
          "[exercise][ch01]") {
    FaultScope faults;
    Pair p;
    p.send(std::string(300, 'w'));
    target(p.receiver.get());
    inject_errors(Call::recv, {EINTR});
    std::vector<char> buf(64, '\0');
    RecvResult r = receive(p.receiver.get(), buf);
    CHECK(r.status == Recv::truncated);
    CHECK(r.size == 300);
    CHECK(calls(Call::recv) == 2);
}

TEST_CASE("any other error is reported as failed with its errno", "[exercise][ch01]") {
    FaultScope faults;
    int fds[2];
    REQUIRE(::pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0);
    Fd rd(fds[0]), wr(fds[1]);
    std::vector<char> buf(64, '\0');
    RecvResult r = receive(rd.get(), buf); // recvmsg on a pipe: ENOTSOCK
    CHECK(r.status == Recv::failed);
    CHECK(r.error == ENOTSOCK);
}
