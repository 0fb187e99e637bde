// ch04_kqueue_layer_test.cpp: kqueue's semantics, one fact of kqueue(2) per
// test case (FreeBSD's manual page; macOS's says the same for these).
//
// On Linux they run against the chapter's teaching layer
// (chapters/04-kqueue/linux/), which is what they are for: each case is a
// promise the layer makes about kqueue. On macOS and FreeBSD the same file
// runs against the real kqueue, which keeps the promises honest. Nothing here
// knows which of the two it has.
#include "catch_compat.hpp"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <netinet/in.h>
#include <string>
#include <sys/event.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// A kqueue that closes itself.
struct Kq {
    int fd = kqueue();
    Kq() { REQUIRE(fd >= 0); }
    ~Kq() { close(fd); }
    Kq(const Kq&) = delete;
    Kq& operator=(const Kq&) = delete;
};

// Two connected stream sockets (AF_UNIX) that close themselves.
struct Pair {
    int a = -1, b = -1;
    Pair() {
        int sv[2];
        REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
        a = sv[0];
        b = sv[1];
    }
    ~Pair() {
        if (a >= 0) close(a);
        if (b >= 0) close(b);
    }
    Pair(const Pair&) = delete;
    Pair& operator=(const Pair&) = delete;
    void say(const char* text) const {
        REQUIRE(write(b, text, std::strlen(text)) == static_cast<ssize_t>(std::strlen(text)));
    }
};

struct kevent make(uintptr_t ident, short filter, unsigned short flags, void* udata = nullptr,
                   unsigned fflags = 0, int64_t data = 0) {
    struct kevent c;
    EV_SET(&c, ident, filter, flags, fflags, data, udata);
    return c;
}

// Makes one change with EV_RECEIPT and returns its answer: 0 or the errno.
int change(int kq, uintptr_t ident, short filter, unsigned short flags, void* udata = nullptr,
           unsigned fflags = 0, int64_t data = 0) {
    struct kevent c = make(ident, filter, flags | EV_RECEIPT, udata, fflags, data);
    struct kevent answer;
    int n = kevent(kq, &c, 1, &answer, 1, nullptr);
    REQUIRE(n == 1);
    REQUIRE((answer.flags & EV_ERROR) != 0);
    return static_cast<int>(answer.data);
}

// The events one kevent() returns, waiting at most `wait`.
std::vector<struct kevent> events(int kq, milliseconds wait = milliseconds(0), int room = 16) {
    std::vector<struct kevent> out(static_cast<size_t>(room));
    struct timespec ts = {static_cast<time_t>(wait.count() / 1000),
                          static_cast<long>(wait.count() % 1000) * 1000000};
    int n = kevent(kq, nullptr, 0, out.data(), room, &ts);
    REQUIRE(n >= 0);
    out.resize(static_cast<size_t>(n));
    return out;
}

// The events for (ident, filter) among `evs`.
int count(const std::vector<struct kevent>& evs, uintptr_t ident, short filter) {
    int n = 0;
    for (const auto& e : evs)
        n += e.ident == ident && e.filter == filter;
    return n;
}

const struct kevent* find(const std::vector<struct kevent>& evs, uintptr_t ident, short filter) {
    for (const auto& e : evs)
        if (e.ident == ident && e.filter == filter) return &e;
    return nullptr;
}

void drain(int fd) {
    char buf[4096];
    while (recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0) {
    }
}

} // namespace

TEST_CASE("EV_RECEIPT answers every change with EV_ERROR, data 0 for success, and kevent() "
          "returns the answers without collecting events",
          "[ch04][kqueue]") {
    Kq kq;
    Pair p;
    p.say("x"); // readable: an event is pending once the filter is added
    struct kevent changes[2] = {make(p.a, EVFILT_READ, EV_ADD | EV_RECEIPT),
                                make(p.a, EVFILT_WRITE, EV_DELETE | EV_RECEIPT)};
    struct kevent out[8];
    int n = kevent(kq.fd, changes, 2, out, 8, nullptr);
    REQUIRE(n == 2); // two answers, and not the read event
    CHECK((out[0].flags & EV_ERROR) != 0);
    CHECK(out[0].filter == EVFILT_READ);
    CHECK(out[0].data == 0);
    CHECK((out[1].flags & EV_ERROR) != 0);
    CHECK(out[1].filter == EVFILT_WRITE);
    CHECK(out[1].data == ENOENT);
    // The read event is still there for the next call.
    CHECK(count(events(kq.fd), p.a, EVFILT_READ) == 1);
}

TEST_CASE("EV_DELETE of a filter that was never added fails with ENOENT: in the eventlist "
          "when there is room, as -1 and errno when there is none",
          "[ch04][kqueue]") {
    Kq kq;
    Pair p;
    struct kevent del = make(p.a, EVFILT_READ, EV_DELETE);
    struct kevent out[4];
    int n = kevent(kq.fd, &del, 1, out, 4, nullptr); // no EV_RECEIPT: only the error comes back
    REQUIRE(n == 1);
    CHECK((out[0].flags & EV_ERROR) != 0);
    CHECK(out[0].ident == static_cast<uintptr_t>(p.a));
    CHECK(out[0].data == ENOENT);
    errno = 0;
    CHECK(kevent(kq.fd, &del, 1, nullptr, 0, nullptr) == -1);
    CHECK(errno == ENOENT);
    // Added, deleted, deleted again: ENOENT again.
    CHECK(change(kq.fd, p.a, EVFILT_READ, EV_ADD) == 0);
    CHECK(change(kq.fd, p.a, EVFILT_READ, EV_DELETE) == 0);
    CHECK(change(kq.fd, p.a, EVFILT_READ, EV_DELETE) == ENOENT);
}

TEST_CASE("a read filter without EV_CLEAR is reported on every call while data waits; with "
          "EV_CLEAR once, until more arrives",
          "[ch04][kqueue]") {
    Kq kq;
    Pair level, edge;
    REQUIRE(change(kq.fd, level.a, EVFILT_READ, EV_ADD) == 0);
    REQUIRE(change(kq.fd, edge.a, EVFILT_READ, EV_ADD | EV_CLEAR) == 0);
    level.say("level");
    edge.say("edge");
    for (int call = 1; call <= 3; ++call) {
        auto evs = events(kq.fd);
        INFO("call " << call);
        CHECK(count(evs, level.a, EVFILT_READ) == 1);                  // still readable: again
        CHECK(count(evs, edge.a, EVFILT_READ) == (call == 1 ? 1 : 0)); // told once
        if (auto* e = find(evs, edge.a, EVFILT_READ)) CHECK((e->flags & EV_CLEAR) != 0);
    }
    edge.say("more"); // a new arrival: a new event, though nothing was read
    CHECK(count(events(kq.fd), edge.a, EVFILT_READ) == 1);
    drain(level.a);
    CHECK(count(events(kq.fd), level.a, EVFILT_READ) == 0);
}

TEST_CASE("EV_ONESHOT reports the first occurrence and deletes the filter: EV_DELETE then "
          "fails with ENOENT, and EV_ADD arms it again",
          "[ch04][kqueue]") {
    Kq kq;
    Pair p;
    REQUIRE(change(kq.fd, p.a, EVFILT_READ, EV_ADD | EV_ONESHOT) == 0);
    REQUIRE(change(kq.fd, p.a, EVFILT_WRITE, EV_ADD) == 0); // not oneshot: stays
    p.say("x");
    auto first = events(kq.fd);
    CHECK(count(first, p.a, EVFILT_READ) == 1);
    CHECK(count(first, p.a, EVFILT_WRITE) == 1);
    p.say("y"); // still readable, more arrived: the filter is gone all the same
    auto second = events(kq.fd);
    CHECK(count(second, p.a, EVFILT_READ) == 0);
    CHECK(count(second, p.a, EVFILT_WRITE) == 1);
    CHECK(change(kq.fd, p.a, EVFILT_READ, EV_DELETE) == ENOENT);
    REQUIRE(change(kq.fd, p.a, EVFILT_READ, EV_ADD | EV_ONESHOT) == 0);
    CHECK(count(events(kq.fd), p.a, EVFILT_READ) == 1); // what waits is reported at once
    CHECK(count(events(kq.fd), p.a, EVFILT_READ) == 0);
}

TEST_CASE("the read and write filters of one descriptor are separate registrations, each with "
          "its own udata",
          "[ch04][kqueue]") {
    Kq kq;
    Pair p;
    int reader = 0, writer = 0;
    REQUIRE(change(kq.fd, p.a, EVFILT_READ, EV_ADD, &reader) == 0);
    REQUIRE(change(kq.fd, p.a, EVFILT_WRITE, EV_ADD, &writer) == 0);
    p.say("x");
    auto both = events(kq.fd);
    REQUIRE(count(both, p.a, EVFILT_READ) == 1);
    REQUIRE(count(both, p.a, EVFILT_WRITE) == 1);
    CHECK(find(both, p.a, EVFILT_READ)->udata == &reader);
    CHECK(find(both, p.a, EVFILT_WRITE)->udata == &writer);
    // No "modify": deleting the write filter leaves the read filter as it was.
    CHECK(change(kq.fd, p.a, EVFILT_WRITE, EV_DELETE) == 0);
    auto left = events(kq.fd);
    CHECK(count(left, p.a, EVFILT_READ) == 1);
    CHECK(count(left, p.a, EVFILT_WRITE) == 0);
    CHECK(change(kq.fd, p.a, EVFILT_WRITE, EV_DELETE) == ENOENT);
    CHECK(change(kq.fd, p.a, EVFILT_READ, EV_DELETE) == 0);
    CHECK(events(kq.fd).empty());
}

TEST_CASE("udata is handed back unchanged with every event, and re-adding a filter changes it",
          "[ch04][kqueue]") {
    Kq kq;
    Pair p;
    std::string first = "first", second = "second";
    REQUIRE(change(kq.fd, p.a, EVFILT_READ, EV_ADD, &first) == 0);
    p.say("x");
    for (int call = 0; call < 2; ++call) {
        auto evs = events(kq.fd);
        REQUIRE(count(evs, p.a, EVFILT_READ) == 1);
        CHECK(find(evs, p.a, EVFILT_READ)->udata == &first);
    }
    // kqueue(2): "Re-adding an existing event will modify the parameters of
    // the original event, and not result in a duplicate entry."
    REQUIRE(change(kq.fd, p.a, EVFILT_READ, EV_ADD, &second) == 0);
    auto evs = events(kq.fd);
    REQUIRE(count(evs, p.a, EVFILT_READ) == 1);
    CHECK(find(evs, p.a, EVFILT_READ)->udata == &second);
}

TEST_CASE("EVFILT_USER: triggers before a wait coalesce into one event; with EV_CLEAR it is not "
          "reported again until triggered again, without it it stays triggered",
          "[ch04][kqueue]") {
    Kq kq;
    int tag = 0;
    REQUIRE(change(kq.fd, 7, EVFILT_USER, EV_ADD | EV_CLEAR, &tag) == 0);
    REQUIRE(change(kq.fd, 8, EVFILT_USER, EV_ADD) == 0);
    CHECK(events(kq.fd).empty()); // added, not triggered
    for (int i = 0; i < 3; ++i)
        CHECK(change(kq.fd, 7, EVFILT_USER, 0, &tag, NOTE_TRIGGER) == 0);
    CHECK(change(kq.fd, 8, EVFILT_USER, 0, nullptr, NOTE_TRIGGER) == 0);
    auto evs = events(kq.fd);
    REQUIRE(count(evs, 7, EVFILT_USER) == 1); // three triggers, one event
    CHECK(find(evs, 7, EVFILT_USER)->udata == &tag);
    CHECK(count(evs, 8, EVFILT_USER) == 1);
    auto again = events(kq.fd);
    CHECK(count(again, 7, EVFILT_USER) == 0); // EV_CLEAR: reset once retrieved
    CHECK(count(again, 8, EVFILT_USER) == 1); // no EV_CLEAR: still triggered
    // The lower 24 bits of fflags are the caller's, set with NOTE_FFCOPY.
    CHECK(change(kq.fd, 7, EVFILT_USER, 0, &tag, NOTE_TRIGGER | NOTE_FFCOPY | 0x123) == 0);
    evs = events(kq.fd);
    REQUIRE(count(evs, 7, EVFILT_USER) == 1);
    CHECK((find(evs, 7, EVFILT_USER)->fflags & NOTE_FFLAGSMASK) == 0x123u);
    CHECK(change(kq.fd, 9, EVFILT_USER, 0, nullptr, NOTE_TRIGGER) == ENOENT); // never added
    CHECK(change(kq.fd, 7, EVFILT_USER, EV_DELETE) == 0);
    CHECK(change(kq.fd, 8, EVFILT_USER, EV_DELETE) == 0);
}

TEST_CASE("EVFILT_USER triggered from another thread wakes a kevent() that is waiting",
          "[ch04][kqueue]") {
    Kq kq;
    REQUIRE(change(kq.fd, 1, EVFILT_USER, EV_ADD | EV_CLEAR) == 0);
    std::thread other([&] {
        std::this_thread::sleep_for(milliseconds(100));
        struct kevent t = make(1, EVFILT_USER, 0, nullptr, NOTE_TRIGGER);
        kevent(kq.fd, &t, 1, nullptr, 0, nullptr);
    });
    auto start = Clock::now();
    auto evs = events(kq.fd, milliseconds(10000));
    auto waited = Clock::now() - start;
    other.join();
    CHECK(count(evs, 1, EVFILT_USER) == 1);
    CHECK(waited < std::chrono::seconds(5)); // woken, not timed out
    CHECK(change(kq.fd, 1, EVFILT_USER, EV_DELETE) == 0);
}

TEST_CASE("EVFILT_TIMER is periodic, and data counts the expirations since the last kevent(); "
          "with EV_ONESHOT it fires once and is deleted",
          "[ch04][kqueue]") {
    Kq kq;
    int tag = 0;
    REQUIRE(change(kq.fd, 5, EVFILT_TIMER, EV_ADD, &tag, 0, 100) == 0); // 100 ms (the default unit)
    std::this_thread::sleep_for(milliseconds(450));
    auto evs = events(kq.fd);
    REQUIRE(count(evs, 5, EVFILT_TIMER) == 1); // one event for them all...
    const struct kevent* e = find(evs, 5, EVFILT_TIMER);
    INFO("expirations counted after 450 ms: " << e->data);
    CHECK(e->data >= 3); // ...counting at least 4, give or take a late wake-up
    CHECK(e->udata == &tag);
    CHECK((e->flags & EV_CLEAR) != 0);     // kqueue(2): the filter sets EV_CLEAR itself
    for (int tick = 0; tick < 2; ++tick) { // and it goes on
        auto next = events(kq.fd, milliseconds(5000));
        REQUIRE(count(next, 5, EVFILT_TIMER) == 1);
        CHECK(find(next, 5, EVFILT_TIMER)->data >= 1);
    }
    CHECK(change(kq.fd, 5, EVFILT_TIMER, EV_DELETE) == 0);

    REQUIRE(change(kq.fd, 6, EVFILT_TIMER, EV_ADD | EV_ONESHOT, nullptr, 0, 20) == 0);
    auto once = events(kq.fd, milliseconds(5000));
    REQUIRE(count(once, 6, EVFILT_TIMER) == 1);
    CHECK(find(once, 6, EVFILT_TIMER)->data == 1);
    CHECK(events(kq.fd, milliseconds(100)).empty()); // five periods: nothing more
    CHECK(change(kq.fd, 6, EVFILT_TIMER, EV_DELETE) == ENOENT);
}

TEST_CASE("EV_EOF: a peer's shutdown sets EV_EOF on the read filter with the bytes still "
          "waiting in data; a reset puts the error in fflags",
          "[ch04][kqueue]") {
    Kq kq;
    // A TCP connection on loopback, so a reset is a real RST.
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(listener >= 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sin;
    REQUIRE(bind(listener, reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0);
    REQUIRE(listen(listener, 4) == 0);
    REQUIRE(getsockname(listener, reinterpret_cast<sockaddr*>(&sin), &len) == 0);
    auto connect_pair = [&](int& client, int& server) {
        client = socket(AF_INET, SOCK_STREAM, 0);
        REQUIRE(client >= 0);
        REQUIRE(connect(client, reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0);
        server = accept(listener, nullptr, nullptr);
        REQUIRE(server >= 0);
    };
    // The data and the FIN: EV_EOF, with the 5 bytes before it in data.
    int client, server;
    connect_pair(client, server);
    REQUIRE(change(kq.fd, server, EVFILT_READ, EV_ADD | EV_CLEAR) == 0);
    REQUIRE(write(client, "hello", 5) == 5);
    REQUIRE(shutdown(client, SHUT_WR) == 0);
    const struct kevent* e = nullptr;
    std::vector<struct kevent> evs;
    auto deadline = Clock::now() + std::chrono::seconds(5);
    while (Clock::now() < deadline) { // the data may be reported before the FIN is in
        evs = events(kq.fd, milliseconds(1000));
        e = find(evs, server, EVFILT_READ);
        if (e && (e->flags & EV_EOF)) break;
    }
    REQUIRE(e != nullptr);
    CHECK((e->flags & EV_EOF) != 0);
    CHECK(e->data == 5);
    CHECK(e->fflags == 0u); // a clean FIN: no error
    close(client);
    close(server);

    // A reset: EV_EOF with ECONNRESET in fflags.
    connect_pair(client, server);
    REQUIRE(change(kq.fd, server, EVFILT_READ, EV_ADD | EV_CLEAR) == 0);
    linger lg{1, 0}; // close() with a zero linger sends RST
    REQUIRE(setsockopt(client, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0);
    close(client);
    e = nullptr;
    deadline = Clock::now() + std::chrono::seconds(5);
    while (!e && Clock::now() < deadline) {
        evs = events(kq.fd, milliseconds(1000));
        e = find(evs, server, EVFILT_READ);
    }
    REQUIRE(e != nullptr);
    CHECK((e->flags & EV_EOF) != 0);
    CHECK(e->fflags == static_cast<unsigned>(ECONNRESET));
    close(server);
    close(listener);
}

TEST_CASE("close() removes the descriptor's filters: nothing is reported for it, and a new "
          "descriptor with the same number starts with none",
          "[ch04][kqueue]") {
    Kq kq;
    std::string old_tag = "old", new_tag = "new";
    int sv[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    const int number = sv[0];
    REQUIRE(change(kq.fd, number, EVFILT_READ, EV_ADD, &old_tag) == 0);
    REQUIRE(change(kq.fd, number, EVFILT_WRITE, EV_ADD, &old_tag) == 0);
    REQUIRE(write(sv[1], "x", 1) == 1);
    close(sv[0]); // with data waiting: the filters go, the event with them
    close(sv[1]);
    CHECK(events(kq.fd).empty());

    Pair p; // the lowest free numbers: the old one comes back
    REQUIRE(p.a == number);
    CHECK(change(kq.fd, p.a, EVFILT_WRITE, EV_DELETE) == ENOENT); // the old write filter is gone
    CHECK(change(kq.fd, p.a, EVFILT_READ, EV_ADD | EV_CLEAR, &new_tag) == 0);
    p.say("y");
    auto evs = events(kq.fd);
    REQUIRE(evs.size() == 1);
    CHECK(evs[0].filter == EVFILT_READ);
    CHECK(evs[0].udata == &new_tag);
    CHECK(change(kq.fd, p.a, EVFILT_WRITE, EV_DELETE) == ENOENT);
}

TEST_CASE("kevent() with changes and no room for events applies the changes and returns 0 at "
          "once, whatever the timeout",
          "[ch04][kqueue]") {
    Kq kq;
    Pair p;
    p.say("x");
    struct kevent add = make(p.a, EVFILT_READ, EV_ADD);
    struct timespec long_wait = {10, 0};
    auto start = Clock::now();
    CHECK(kevent(kq.fd, &add, 1, nullptr, 0, &long_wait) == 0);
    CHECK(Clock::now() - start < std::chrono::seconds(5));
    CHECK(count(events(kq.fd), p.a, EVFILT_READ) == 1);
}
