// ch02_epoll_level_test.cpp: chapter 02-epoll-level, graded.
//
// The hostile-client suite for both servers, the shared command line, more
// connections than select() could watch, the syscall fingerprint (epoll_wait
// and no select/poll; for one echoed message the trace shows EPOLL_CTL_MOD
// switching EPOLLOUT on and then off, and an idle server makes no calls), and
// the counts printed by level_nagging.
#include "catch_compat.hpp"
#include "harness.hpp"
#include "hostile.hpp"
#include "strace.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <netinet/in.h>
#include <sstream>
#include <sys/select.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

using namespace ioladder::test;
using ioladder::test::hostile::figure;
using ioladder::test::hostile::Outcome;
using std::chrono::milliseconds;
using std::chrono::seconds;

IOLADDER_HOSTILE_SUITE("ch02", "echo_udp_epoll_lt", udp)
IOLADDER_HOSTILE_SUITE("ch02", "echo_tcp_epoll_lt", tcp)

// The command line (--help, bad arguments, a taken port) is checked for every
// server by IOLADDER_HOSTILE_SUITE above.

TEST_CASE("every ch02 server's --help says it runs on epoll", "[ch02][cli]") {
    for (const auto& s : servers_of_chapter("ch02")) {
        INFO(s.name);
        RunResult help = run_program({s.path, "--help"});
        CHECK(help.exit_code == 0);
        CHECK(help.out.find("epoll") != std::string::npos);
    }
    CHECK(servers_of_chapter("ch02").size() == 2); // the loop above ran over both
}

// ---- no FD_SETSIZE ---------------------------------------------------------

TEST_CASE("echo_tcp_epoll_lt serves more connections than FD_SETSIZE at once",
          "[ch02][fd_setsize]") {
    if (auto skip = hostile::tcp_serves_beyond_fd_setsize("echo_tcp_epoll_lt"))
        IOLADDER_SKIP(*skip);
}

// ---- syscall fingerprint ---------------------------------------------------

namespace {

bool is_receive(const std::string& name) {
    return name == "recvfrom" || name == "recvmsg" || name == "read" || name == "recv";
}
bool is_send(const std::string& name) {
    return name == "sendto" || name == "sendmsg" || name == "write" || name == "send";
}
bool is_wait(const std::string& name) {
    return name == "epoll_wait" || name == "epoll_pwait" || name == "epoll_pwait2";
}

// The third argument of "epoll_ctl(4, EPOLL_CTL_MOD, 7, {...})": the target fd.
int ctl_target(const std::string& text) {
    int epfd = -1, fd = -1;
    char op[32] = "";
    if (std::sscanf(text.c_str(), "epoll_ctl(%d, %31[A-Z_], %d", &epfd, op, &fd) != 3) return -1;
    return fd;
}

bool is_mod(const Call& c) {
    return c.name == "epoll_ctl" && c.text.find("EPOLL_CTL_MOD") != std::string::npos;
}

// Echoes one message under strace, stays idle for a moment, then checks the
// sequence the chapter promises: recv, MOD with EPOLLOUT, a wait reporting
// EPOLLOUT, the send, MOD without EPOLLOUT on the same descriptor, and then
// only waits (no busy loop) until SIGTERM.
Outcome check_toggle(const std::string& name) {
    if (auto st = strace_available(); !st.ok) return "needs strace: " + st.reason;
    ServerInfo server = find_server(name);
    const std::string path = temp_path("strace-toggle-" + name) + ".txt";
    const std::string msg = "toggle-probe-4711;";
    int code = -1;
    {
        auto proc = ServerProcess::start(server, strace_options(path));
        if (server.proto == "tcp") {
            TcpClient client(proc.port());
            client.send_all(msg);
            REQUIRE(client.recv_exact(msg.size(), seconds(5)) == msg);
            std::this_thread::sleep_for(milliseconds(300)); // idle, connection open
            code = proc.stop(seconds(10));
        } else {
            UdpClient client(proc.port());
            client.send(msg);
            REQUIRE(client.recv(seconds(5)) == msg);
            std::this_thread::sleep_for(milliseconds(300));
            code = proc.stop(seconds(10));
        }
    }
    CHECK(code == 0);
    Trace t = parse_strace_file(path);
    INFO("trace kept at " << path);
    const auto& calls = t.calls;
    const size_t none = calls.size();

    auto find = [&](size_t from, auto pred) {
        for (size_t i = from; i < calls.size(); ++i)
            if (pred(calls[i])) return i;
        return none;
    };
    size_t recv = find(0, [&](const Call& c) {
        return is_receive(c.name) && c.text.find(msg) != std::string::npos;
    });
    REQUIRE(recv != none);
    size_t on = find(recv, [](const Call& c) {
        return is_mod(c) && c.text.find("EPOLLOUT") != std::string::npos;
    });
    REQUIRE(on != none);
    const int fd = ctl_target(calls[on].text);
    INFO("MOD on: " << calls[on].text);
    CHECK(fd >= 0);
    size_t wait_out = find(on, [](const Call& c) {
        return is_wait(c.name) && c.text.find("EPOLLOUT") != std::string::npos;
    });
    size_t send = find(on, [&](const Call& c) {
        return is_send(c.name) && c.text.find(msg) != std::string::npos;
    });
    REQUIRE(send != none);
    CHECK(wait_out < send); // the echo waited for the writable report
    size_t off = find(send, [&](const Call& c) {
        return is_mod(c) && ctl_target(c.text) == fd &&
               c.text.find("EPOLLOUT") == std::string::npos;
    });
    REQUIRE(off != none);
    INFO("MOD off: " << calls[off].text);
    CHECK(calls[off].text.find("EPOLLIN") != std::string::npos); // still reading

    // Idle after the echo: the waits that follow are the one SIGTERM
    // interrupts and the one that reports the shutdown pipe (plus perhaps
    // one more). EPOLLOUT left on would make thousands in 300 ms.
    int waits_after = 0;
    for (size_t i = off + 1; i < calls.size(); ++i)
        if (is_wait(calls[i].name)) ++waits_after;
    CHECK(waits_after >= 1);
    CHECK(waits_after <= 4);
    figure(name, "toggle: recv@" + std::to_string(recv) + " mod_on@" + std::to_string(on) +
                     " send@" + std::to_string(send) + " mod_off@" + std::to_string(off) +
                     " waits_while_idle=" + std::to_string(waits_after));
    std::remove(path.c_str());
    return {};
}

// Counts calls per echoed message over 200 sequential round trips and checks
// the mechanism: epoll waits, no select/poll, two MODs per message.
Outcome check_fingerprint(const std::string& name) {
    hostile::TracedEcho run;
    if (auto skip = hostile::check_fingerprint(name, {"epoll_wait", "epoll_pwait"},
                                               {"select", "pselect6", "poll", "ppoll"}, 20.0, run))
        return skip;
    INFO("trace kept at " << run.cost.trace_path);
    CHECK(run.trace.has_call("epoll_create1"));
    // One message, one round trip: EPOLLOUT on after the read, off after the
    // send. Fewer would mean write interest left on (or never used); more, a
    // MOD that changes nothing.
    CHECK(run.per("epoll_ctl") >= 1.5);
    CHECK(run.per("epoll_ctl") <= 2.5);
    std::remove(run.cost.trace_path.c_str());
    return {};
}

} // namespace

TEST_CASE("echo_tcp_epoll_lt switches EPOLLOUT on for one echo and off after it, then sleeps",
          "[ch02][strace]") {
    if (auto skip = check_toggle("echo_tcp_epoll_lt")) IOLADDER_SKIP(*skip);
}

TEST_CASE("echo_udp_epoll_lt switches EPOLLOUT on for one echo and off after it, then sleeps",
          "[ch02][strace]") {
    if (auto skip = check_toggle("echo_udp_epoll_lt")) IOLADDER_SKIP(*skip);
}

TEST_CASE("echo_tcp_epoll_lt waits in epoll_wait and reports its syscalls per message",
          "[ch02][strace]") {
    if (auto skip = check_fingerprint("echo_tcp_epoll_lt")) IOLADDER_SKIP(*skip);
}

TEST_CASE("echo_udp_epoll_lt waits in epoll_wait and reports its syscalls per message",
          "[ch02][strace]") {
    if (auto skip = check_fingerprint("echo_udp_epoll_lt")) IOLADDER_SKIP(*skip);
}

// ---- level_nagging -----------------------------------------------------------

namespace {

// level_nagging is built next to the chapter's servers (same folder).
std::string nagging_path() {
    namespace fs = std::filesystem;
    fs::path p = fs::path(find_server("echo_tcp_epoll_lt").path).parent_path() / "level_nagging";
    INFO("looked for " << p.string() << " (build the level_nagging target)");
    REQUIRE(fs::exists(p));
    return p.string();
}

} // namespace

TEST_CASE("level_nagging counts a report on every wait when level-triggered and one when "
          "edge-triggered",
          "[ch02][nagging]") {
    for (int waits : {10, 37}) {
        RunResult r = run_program({nagging_path(), "--waits", std::to_string(waits)});
        INFO("stdout:\n" << r.out << "stderr:\n" << r.err);
        REQUIRE(r.exit_code == 0);
        const std::string of = " of " + std::to_string(waits) + " waits\n";
        const std::string expected = "level-triggered, 6 bytes unread: reported " +
                                     std::to_string(waits) + of +
                                     "level-triggered, after reading them: reported 0" + of +
                                     "edge-triggered, 6 bytes unread: reported 1" + of +
                                     "edge-triggered, 6 more bytes arrive: reported 1" + of;
        CHECK(r.out == expected);
        if (r.out == expected)
            figure("level_nagging", "waits=" + std::to_string(waits) +
                                        " level_unread=" + std::to_string(waits) +
                                        " level_read=0 edge_unread=1 edge_more=1");
    }
}

TEST_CASE("level_nagging prints its usage for --help and rejects a bad count with exit 2",
          "[ch02][nagging]") {
    const std::string path = nagging_path();
    RunResult help = run_program({path, "--help"});
    CHECK(help.exit_code == 0);
    CHECK(help.out.find("usage:") != std::string::npos);
    for (const char* bad : {"0", "ten", "-3"}) {
        RunResult r = run_program({path, "--waits", bad});
        INFO("--waits " << bad << " stderr: " << r.err);
        CHECK(r.exit_code == 2);
        CHECK(r.out.empty());
    }
}
