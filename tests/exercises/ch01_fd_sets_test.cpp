// Grades the ch01 fd_sets exercise (chapters/01-select/exercises/fd_sets.hpp).
// build_fd_sets makes no system calls, so these descriptor numbers need not
// be open: 3 is the listener and 4 the wake pipe throughout.
#include "catch_compat.hpp"
#include "fd_sets.hpp"

#include <algorithm>
#include <vector>

using ioladder::ch01::build_fd_sets;
using ioladder::ch01::Connection;
using ioladder::ch01::Interest;

namespace {

constexpr int listener = 3;
constexpr int wake = 4;

// The descriptors set in `s`, lowest first.
std::vector<int> members(const fd_set& s) {
    std::vector<int> fds;
    for (int fd = 0; fd < FD_SETSIZE; ++fd)
        if (FD_ISSET(fd, &s)) fds.push_back(fd);
    return fds;
}

using Fds = std::vector<int>;

} // namespace

TEST_CASE("the listener and the wake descriptor are always read", "[exercise][ch01]") {
    Interest in = build_fd_sets(listener, wake, {});
    CHECK(members(in.read) == Fds{3, 4});
    CHECK(members(in.write) == Fds{});
    CHECK(in.nfds == 5);
    CHECK(in.refused.empty());
}

TEST_CASE("a connection with room in its output buffer is read but not written",
          "[exercise][ch01]") {
    std::vector<Connection> conns{{.fd = 7, .pending = 0, .capacity = 16}};
    Interest in = build_fd_sets(listener, wake, conns);
    CHECK(members(in.read) == Fds{3, 4, 7});
    CHECK(members(in.write) == Fds{});
    CHECK(in.nfds == 8);
}

TEST_CASE("a connection with pending output is written and still read while there is room",
          "[exercise][ch01]") {
    std::vector<Connection> conns{{.fd = 7, .pending = 5, .capacity = 16}};
    Interest in = build_fd_sets(listener, wake, conns);
    CHECK(members(in.read) == Fds{3, 4, 7});
    CHECK(members(in.write) == Fds{7});
    CHECK(in.nfds == 8);
}

TEST_CASE("a connection whose output buffer is full is written but not read", "[exercise][ch01]") {
    std::vector<Connection> conns{{.fd = 9, .pending = 16, .capacity = 16}};
    Interest in = build_fd_sets(listener, wake, conns);
    CHECK(members(in.read) == Fds{3, 4});
    CHECK(members(in.write) == Fds{9});
    CHECK(in.nfds == 10); // the highest descriptor is only in the write set
}

TEST_CASE("a connection whose peer has closed is not read but its pending output is written",
          "[exercise][ch01]") {
    std::vector<Connection> conns{{.fd = 9, .pending = 3, .capacity = 16, .peer_closed = true}};
    Interest in = build_fd_sets(listener, wake, conns);
    CHECK(members(in.read) == Fds{3, 4});
    CHECK(members(in.write) == Fds{9});
    CHECK(in.nfds == 10);
}

TEST_CASE("a connection with nothing to do is in neither set and does not raise nfds",
          "[exercise][ch01]") {
    std::vector<Connection> conns{
        {.fd = 6, .pending = 0, .capacity = 16},
        {.fd = 20, .pending = 0, .capacity = 16, .peer_closed = true}, // about to be closed
    };
    Interest in = build_fd_sets(listener, wake, conns);
    CHECK(members(in.read) == Fds{3, 4, 6});
    CHECK(members(in.write) == Fds{});
    CHECK(in.nfds == 7);
}

TEST_CASE("empty slots and a missing wake descriptor are skipped", "[exercise][ch01]") {
    std::vector<Connection> conns{
        {.fd = -1, .pending = 4, .capacity = 16},
        {.fd = 5, .pending = 0, .capacity = 16},
    };
    Interest in = build_fd_sets(listener, -1, conns);
    CHECK(members(in.read) == Fds{3, 5});
    CHECK(members(in.write) == Fds{});
    CHECK(in.nfds == 6);
    CHECK(in.refused.empty());
}

TEST_CASE("every connection gets exactly the interest its state asks for", "[exercise][ch01]") {
    // 200 connections on descriptors 10..209 in every combination of state.
    std::vector<Connection> conns;
    Fds want_read{3, 4}, want_write;
    for (int i = 0; i < 200; ++i) {
        Connection c{.fd = 10 + i,
                     .pending = static_cast<std::size_t>((i * 7) % 5) * 4, // 0, 4, 8, 12, 16
                     .capacity = 16,
                     .peer_closed = i % 3 == 0};
        conns.push_back(c);
        if (c.pending < c.capacity && !c.peer_closed) want_read.push_back(c.fd);
        if (c.pending > 0) want_write.push_back(c.fd);
    }
    Interest in = build_fd_sets(listener, wake, conns);
    CHECK(members(in.read) == want_read);
    CHECK(members(in.write) == want_write);
    CHECK(in.nfds == 1 + std::max(want_read.back(), want_write.back()));
    CHECK(in.refused.empty());
}

TEST_CASE("a descriptor at or above FD_SETSIZE is refused, never written into an fd_set",
          "[exercise][ch01]") {
    std::vector<Connection> conns{
        {.fd = 7, .pending = 0, .capacity = 16},
        {.fd = FD_SETSIZE, .pending = 2, .capacity = 16},      // would be read and written
        {.fd = FD_SETSIZE + 10, .pending = 0, .capacity = 16}, // would be read
    };
    Interest in = build_fd_sets(listener, wake, conns);
    // FD_SET(FD_SETSIZE, &in.read) would set a bit beyond the read set's end:
    // in this struct, descriptor 0 of the write set.
    CHECK(members(in.read) == Fds{3, 4, 7});
    CHECK(members(in.write) == Fds{});
    CHECK(in.nfds == 8);
    CHECK(in.refused == Fds{FD_SETSIZE, FD_SETSIZE + 10});
}

TEST_CASE("a listener at FD_SETSIZE is refused and the wake descriptor is still read",
          "[exercise][ch01]") {
    Interest in = build_fd_sets(FD_SETSIZE, wake, {});
    CHECK(members(in.read) == Fds{4});
    CHECK(members(in.write) == Fds{});
    CHECK(in.nfds == 5);
    CHECK(in.refused == Fds{FD_SETSIZE});
}
