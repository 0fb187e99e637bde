// Grades the ch04 eof_read exercise (chapters/04-kqueue/exercises/eof_read.hpp).
// Some events come from a real kqueue (the Linux teaching layer: `data`
// counted only with EV_EOF, INT64_MAX at an urgent mark), others are made by
// hand to stand for what the real kqueue reports; faults.hpp counts the
// receive calls on the socket under test and can make one fail.
#include "catch_compat.hpp"
#include "ch04_kqueue_support.hpp"
#include "enum_names.hpp"
#include "eof_read.hpp"
#include "faults.hpp"

#include <thread>

using namespace ioladder::test;
using ioladder::ch04::EventRead;
using ioladder::ch04::kChunk;
using ioladder::ch04::read_event;
using ioladder::ch04::ReadEnd;

IOLADDER_ENUM_NAMES(ioladder::ch04::ReadEnd, wait, finished, reset, failed)

namespace {

// n bytes that show a byte out of place: the alphabet, shifted every 26.
std::string pattern(std::size_t n) {
    std::string s;
    while (s.size() < n)
        s += std::string("abcdefghijklmnopqrstuvwxyz").substr(s.size() / 26 % 26);
    return s.substr(0, n);
}

// A TCP connection over loopback: `client` blocking, `server` non-blocking
// and registered for EVFILT_READ with EV_CLEAR on `kq`.
struct Connection {
    Fd listener = tcp_listener();
    Fd client = tcp_connect(listener.get());
    Fd server;
    explicit Connection(int kq) {
        wait_for(listener.get(), POLLIN);
        server = Fd(::accept(listener.get(), nullptr, nullptr));
        if (server.get() < 0) fail_errno("accept");
        if (::fcntl(server.get(), F_SETFL, O_NONBLOCK) < 0) fail_errno("fcntl");
        kevent_call(kq, {change(server.get(), EVFILT_READ, EV_ADD | EV_CLEAR)});
    }
};

// The read event kqueue has for `fd` now (after what was sent has arrived).
struct kevent read_event_for(int kq, int fd) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50)); // everything is in
    for (const auto& e : kevent_call(kq, {}, 2000))
        if (e.ident == static_cast<uintptr_t>(fd) && e.filter == EVFILT_READ) return e;
    FAIL("no read event for the socket");
    return {};
}

EventRead run(const struct kevent& ev, std::string& out) {
    target(static_cast<int>(ev.ident));
    STEP("read_event");
    return read_event(ev, out);
}

} // namespace

TEST_CASE("data and FIN in one event: every byte, finished, and no recv() that returns 0",
          "[exercise][ch04]") {
    FaultScope faults;
    Fd kq = new_kqueue();
    Connection c(kq.get());
    const std::string sent = pattern(10000);
    REQUIRE(::write(c.client.get(), sent.data(), sent.size()) == 10000);
    REQUIRE(::shutdown(c.client.get(), SHUT_WR) == 0);
    struct kevent ev = read_event_for(kq.get(), c.server.get());
    REQUIRE((ev.flags & EV_EOF) != 0);
    REQUIRE(ev.data == 10000);
    std::string out;
    EventRead r = run(ev, out);
    CHECK(r.end == ReadEnd::finished);
    CHECK(r.bytes == 10000);
    CHECK(out == sent);
    CHECK(calls(Call::recv) == 3); // 4096 + 4096 + 1808, and nothing to hear the 0
}

TEST_CASE("EV_EOF with nothing before the FIN is finished without any recv()", "[exercise][ch04]") {
    FaultScope faults;
    Fd kq = new_kqueue();
    Connection c(kq.get());
    REQUIRE(::shutdown(c.client.get(), SHUT_WR) == 0);
    struct kevent ev = read_event_for(kq.get(), c.server.get());
    REQUIRE((ev.flags & EV_EOF) != 0);
    std::string out;
    EventRead r = run(ev, out);
    CHECK(r.end == ReadEnd::finished);
    CHECK(r.bytes == 0);
    CHECK(calls(Call::recv) == 0);
}

TEST_CASE("a counted read goes on past the short read at an urgent mark", "[exercise][ch04]") {
    FaultScope faults;
    Fd kq = new_kqueue();
    Connection c(kq.get());
    const std::string before(100, 'b'), after(100, 'a');
    REQUIRE(::send(c.client.get(), before.data(), before.size(), 0) == 100);
    REQUIRE(::send(c.client.get(), "!", 1, MSG_OOB) == 1);
    REQUIRE(::send(c.client.get(), after.data(), after.size(), 0) == 100);
    struct kevent ev = read_event_for(kq.get(), c.server.get());
    INFO("data " << ev.data);
    std::string out;
    EventRead r = run(ev, out);
    CHECK(r.end == ReadEnd::wait);
    CHECK(r.bytes == 200);
    CHECK(out == before + after); // the urgent byte itself is not inline
}

TEST_CASE("counted bytes are read with no recv() beyond the count", "[exercise][ch04]") {
    FaultScope faults;
    StreamPair p;
    p.say(pattern(30));
    struct kevent ev = change(p.a.get(), EVFILT_READ, EV_CLEAR, nullptr, 0, 30); // as kqueue counts
    std::string out;
    EventRead r = run(ev, out);
    CHECK(r.end == ReadEnd::wait);
    CHECK(r.bytes == 30);
    CHECK(out == pattern(30));
    CHECK(calls(Call::recv) == 1); // no second recv() to hear EAGAIN
}

TEST_CASE("not counted (data 0 without EV_EOF): one short read proves the socket empty",
          "[exercise][ch04]") {
    FaultScope faults;
    StreamPair p;
    p.say(pattern(50));
    struct kevent ev = change(p.a.get(), EVFILT_READ, EV_CLEAR, nullptr, 0, 0); // as the layer
    std::string out;
    EventRead r = run(ev, out);
    CHECK(r.end == ReadEnd::wait);
    CHECK(r.bytes == 50);
    CHECK(calls(Call::recv) == 1);
    p.say(pattern(kChunk + 10)); // more than one recv() takes: read on to the short one
    out.clear();
    r = run(ev, out);
    CHECK(r.bytes == kChunk + 10);
    CHECK(calls(Call::recv) == 2);
}

TEST_CASE("a reset is reported with the error kqueue put in fflags, and nothing is read",
          "[exercise][ch04]") {
    FaultScope faults;
    StreamPair p;
    p.say("unread");
    struct kevent ev =
        change(p.a.get(), EVFILT_READ, EV_CLEAR | EV_EOF, nullptr, ECONNRESET, 6); // as kqueue
    std::string out;
    EventRead r = run(ev, out);
    CHECK(r.end == ReadEnd::reset);
    CHECK(r.error == ECONNRESET);
    CHECK(r.bytes == 0);
    CHECK(calls(Call::recv) == 0);
}

TEST_CASE("an interrupted recv() is asked again, and the count still holds", "[exercise][ch04]") {
    FaultScope faults;
    StreamPair p;
    p.say(pattern(30));
    struct kevent ev = change(p.a.get(), EVFILT_READ, EV_CLEAR | EV_EOF, nullptr, 0, 30);
    inject_errors(Call::recv, {EINTR});
    std::string out;
    EventRead r = run(ev, out);
    CHECK(r.end == ReadEnd::finished);
    CHECK(r.bytes == 30);
    CHECK(calls(Call::recv) == 2);
}
