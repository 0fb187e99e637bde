// ch01_select_test.cpp: chapter 01-select, graded.
//
// The hostile-client suite for the three servers, the command line every echo
// program shares, the FD_SETSIZE trap that select() sets and poll() does not,
// and the syscall fingerprint: under strace, select servers wait in select,
// the poll server in poll, and an echoed message costs a handful of calls.
#include "catch_compat.hpp"
#include "harness.hpp"
#include "hostile.hpp"
#include "strace.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <sstream>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace ioladder::test;
using ioladder::test::hostile::figure;
using ioladder::test::hostile::Outcome;
using std::chrono::seconds;

IOLADDER_HOSTILE_SUITE("ch01", "echo_udp_select", udp)
IOLADDER_HOSTILE_SUITE("ch01", "echo_tcp_select", tcp)
IOLADDER_HOSTILE_SUITE("ch01", "echo_tcp_poll", tcp)

// The command line (--help, bad arguments, a taken port) is checked for every
// server by IOLADDER_HOSTILE_SUITE above.

// ---- FD_SETSIZE: select's trap, poll's freedom -----------------------------

namespace {

// Opens `n` connections; returns them (each already accepted by the kernel,
// not necessarily by the server).
std::vector<TcpClient> open_connections(uint16_t port, int n) {
    std::vector<TcpClient> v;
    v.reserve(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i)
        v.emplace_back(port);
    return v;
}

int count_lines_with(const std::string& text, const std::string& what) {
    std::istringstream in(text);
    std::string line;
    int n = 0;
    while (std::getline(in, line))
        if (line.find(what) != std::string::npos) ++n;
    return n;
}

} // namespace

TEST_CASE("echo_tcp_select refuses a descriptor at or above FD_SETSIZE and keeps serving",
          "[ch01][fd_setsize]") {
    // The server's own descriptors (stdio, listener, shutdown pipe, spare)
    // come first, so FD_SETSIZE + 50 connections push its accepted
    // descriptors past FD_SETSIZE - 1.
    const int extra = FD_SETSIZE + 50;
    if (auto fds = fd_limit_at_least(extra + 200); !fds.ok) IOLADDER_SKIP(fds.reason);
    auto proc = ServerProcess::start(find_server("echo_tcp_select"));

    TcpClient early(proc.port());
    early.send_all("early");
    REQUIRE(early.recv_exact(5, seconds(5)) == "early");

    auto conns = open_connections(proc.port(), extra);
    bool logged = wait_until(
        [&] { return proc.stderr_text().find("FD_SETSIZE") != std::string::npos; }, seconds(10));
    INFO("server stderr (first 2000 bytes):\n" << proc.stderr_text().substr(0, 2000));
    REQUIRE(logged);
    REQUIRE(proc.running());

    // The refused connection is closed, not left hanging: the last client
    // (certainly past the limit) sees EOF or a reset.
    bool closed = false;
    try {
        closed = conns.back().recv_until_eof(seconds(5)).empty();
    } catch (const std::runtime_error& e) {
        closed = std::string(e.what()).find(std::strerror(ECONNRESET)) != std::string::npos;
    }
    CHECK(closed);

    // Clients below the limit are still served: the one from before and one
    // from the middle of the flood.
    early.send_all("still here");
    CHECK(early.recv_exact(10, seconds(5)) == "still here");
    conns[FD_SETSIZE / 2].send_all("middle");
    CHECK(conns[FD_SETSIZE / 2].recv_exact(6, seconds(5)) == "middle");

    const int refusals = count_lines_with(proc.stderr_text(), "FD_SETSIZE");
    figure("echo_tcp_select", "fd_setsize_connections=" + std::to_string(extra + 1) +
                                  " refusals_logged=" + std::to_string(refusals) +
                                  " server_fds=" + std::to_string(proc.fd_count()));
    CHECK(refusals >= 1);
    conns.clear();
    CHECK(proc.stop() == 0);
}

TEST_CASE("echo_tcp_poll serves more connections than FD_SETSIZE", "[ch01][fd_setsize]") {
    if (auto skip = hostile::tcp_serves_beyond_fd_setsize("echo_tcp_poll")) IOLADDER_SKIP(*skip);
}

// ---- syscall fingerprint ---------------------------------------------------

namespace {

// The ch01 fingerprint: `waits_in` (select or poll) once per message at
// least, none of `never`, and the shared sanity bound.
Outcome check_fingerprint(const std::string& name, std::initializer_list<const char*> waits_in,
                          std::initializer_list<const char*> never) {
    hostile::TracedEcho run;
    if (auto skip = hostile::check_fingerprint(name, waits_in, never, 20.0, run)) return skip;
    std::remove(run.cost.trace_path.c_str());
    return {};
}

} // namespace

TEST_CASE("echo_udp_select waits in select under strace and reports its syscalls per message",
          "[ch01][strace]") {
    if (auto skip = check_fingerprint("echo_udp_select", {"select", "pselect6"},
                                      {"poll", "ppoll", "epoll_wait", "epoll_pwait", "epoll_ctl"}))
        IOLADDER_SKIP(*skip);
}

TEST_CASE("echo_tcp_select waits in select under strace and reports its syscalls per message",
          "[ch01][strace]") {
    if (auto skip = check_fingerprint("echo_tcp_select", {"select", "pselect6"},
                                      {"poll", "ppoll", "epoll_wait", "epoll_pwait", "epoll_ctl"}))
        IOLADDER_SKIP(*skip);
}

TEST_CASE("echo_tcp_poll waits in poll under strace and reports its syscalls per message",
          "[ch01][strace]") {
    if (auto skip =
            check_fingerprint("echo_tcp_poll", {"poll", "ppoll"},
                              {"select", "pselect6", "epoll_wait", "epoll_pwait", "epoll_ctl"}))
        IOLADDER_SKIP(*skip);
}
