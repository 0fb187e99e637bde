// ch02_epoll_level_test.cpp: chapter 02-epoll-level, graded.
//
// The hostile-client suite for the servers, the shared command line, more
// connections than select() could watch, the syscall fingerprint (epoll_wait
// and no select/poll; write first: the echo is sent straight after the read,
// with EPOLL_CTL_MOD only while a client that does not read fills its buffer;
// the arm-first variant toggles EPOLLOUT per message), and the counts
// printed by level_nagging.
#include "catch_compat.hpp"
#include "harness.hpp"
#include "hostile.hpp"
#include "strace.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <netinet/in.h>
#include <set>
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
IOLADDER_HOSTILE_SUITE("ch02", "echo_tcp_epoll_lt_armfirst", tcp)

// The command line (--help, bad arguments, a taken port) is checked for every
// server by IOLADDER_HOSTILE_SUITE above.

TEST_CASE("every ch02 server's --help says it runs on epoll", "[ch02][cli]") {
    for (const auto& s : servers_of_chapter("ch02")) {
        INFO(s.name);
        RunResult help = run_program({s.path, "--help"});
        CHECK(help.exit_code == 0);
        CHECK(help.out.find("epoll") != std::string::npos);
    }
    CHECK(servers_of_chapter("ch02").size() == 3); // the loop above ran over all
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

// One message under strace, then a moment idle. Write first: the send comes
// straight after the recv, with no epoll_wait between them and no epoll_ctl
// at all; and the server sleeps afterwards (no EPOLLOUT left on).
Outcome check_write_first(const std::string& name) {
    if (auto st = strace_available(); !st.ok) return "needs strace: " + st.reason;
    ServerInfo server = find_server(name);
    const std::string path = temp_path("strace-write-first-" + name) + ".txt";
    const std::string msg = "write-first-probe-4711;";
    int code = -1;
    {
        auto proc = ServerProcess::start(server, strace_options(path));
        if (server.proto == "tcp") {
            TcpClient client(proc.port());
            client.send_all(msg);
            REQUIRE(client.recv_exact(msg.size(), seconds(5)) == msg);
            std::this_thread::sleep_for(milliseconds(300)); // idle, connection open
        } else {
            UdpClient client(proc.port());
            client.send(msg);
            REQUIRE(client.recv(seconds(5)) == msg);
            std::this_thread::sleep_for(milliseconds(300));
        }
        code = proc.stop(seconds(10));
    }
    CHECK(code == 0);
    Trace t = parse_strace_file(path);
    INFO("trace kept at " << path);
    const auto& calls = t.calls;
    size_t recv = calls.size(), send = calls.size();
    for (size_t i = 0; i < calls.size(); ++i) {
        if (recv == calls.size() && is_receive(calls[i].name) &&
            calls[i].text.find(msg) != std::string::npos)
            recv = i;
        if (is_send(calls[i].name) && calls[i].text.find(msg) != std::string::npos) send = i;
    }
    REQUIRE(recv < calls.size());
    REQUIRE(send < calls.size());
    CHECK(recv < send);
    int waits_between = 0, mods = 0, waits_after = 0;
    for (size_t i = recv; i < send; ++i)
        if (is_wait(calls[i].name)) ++waits_between;
    for (const Call& c : calls)
        if (is_mod(c)) ++mods;
    for (size_t i = send + 1; i < calls.size(); ++i)
        if (is_wait(calls[i].name)) ++waits_after;
    CHECK(waits_between == 0); // sent without being told the socket is writable
    CHECK(mods == 0);          // and so no EPOLLOUT to switch on and off
    // Idle after the echo: the wait SIGTERM interrupts and the one that
    // reports the shutdown pipe (perhaps one more). EPOLLOUT left on would
    // make thousands in 300 ms.
    CHECK(waits_after >= 1);
    CHECK(waits_after <= 4);
    figure(name, "write-first: recv@" + std::to_string(recv) + " send@" + std::to_string(send) +
                     " waits_between=" + std::to_string(waits_between) + " mods=" +
                     std::to_string(mods) + " waits_while_idle=" + std::to_string(waits_after));
    std::remove(path.c_str());
    return {};
}

// The arm-first order of the first edition, kept as a variant for the book's
// comparison: recv, MOD with EPOLLOUT, a wait reporting EPOLLOUT, the send,
// MOD without EPOLLOUT on the same descriptor, then only waits until SIGTERM.
Outcome check_arm_first(const std::string& name) {
    if (auto st = strace_available(); !st.ok) return "needs strace: " + st.reason;
    ServerInfo server = find_server(name);
    const std::string path = temp_path("strace-toggle-" + name) + ".txt";
    const std::string msg = "toggle-probe-4711;";
    int code = -1;
    {
        auto proc = ServerProcess::start(server, strace_options(path));
        TcpClient client(proc.port());
        client.send_all(msg);
        REQUIRE(client.recv_exact(msg.size(), seconds(5)) == msg);
        std::this_thread::sleep_for(milliseconds(300)); // idle, connection open
        code = proc.stop(seconds(10));
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
    int waits_after = 0;
    for (size_t i = off + 1; i < calls.size(); ++i)
        if (is_wait(calls[i].name)) ++waits_after;
    CHECK(waits_after >= 1);
    CHECK(waits_after <= 4);
    std::remove(path.c_str());
    return {};
}

// Counts calls per echoed message over 200 sequential round trips (one
// client, one message in flight: "1x1") and checks the mechanism: epoll
// waits, no select/poll, and at most `max_calls` per message with
// `ctl_per_message` epoll_ctl calls (about 0 write first, 2 arm first).
Outcome check_fingerprint(const std::string& name, double max_calls, double ctl_min,
                          double ctl_max) {
    hostile::TracedEcho run;
    if (auto skip = hostile::check_fingerprint(name, {"epoll_wait", "epoll_pwait"},
                                               {"select", "pselect6", "poll", "ppoll"}, 20.0, run))
        return skip;
    INFO("trace kept at " << run.cost.trace_path);
    CHECK(run.trace.has_call("epoll_create1"));
    CHECK(run.echo_calls_per_message() <= max_calls);
    CHECK(run.per("epoll_ctl") >= ctl_min);
    CHECK(run.per("epoll_ctl") <= ctl_max);
    std::remove(run.cost.trace_path.c_str());
    return {};
}

// A client that reads its echoes, then one that sends without reading until
// nothing more goes in, then reads everything back. Under write first,
// EPOLL_CTL_MOD appears only for the second client, and only after it began
// filling the server's buffer: EPOLLOUT on when send() said EAGAIN, EPOLLIN
// off when the 64 KiB buffer filled, and back to EPOLLIN alone once it has
// read everything.
Outcome check_mod_only_under_backpressure(const std::string& name) {
    if (auto st = strace_available(); !st.ok) return "needs strace: " + st.reason;
    ServerInfo server = find_server(name);
    const std::string path = temp_path("strace-backpressure-" + name) + ".txt";
    const std::string ping = "reader-ping-0815;";
    std::string flood;
    {
        auto proc = ServerProcess::start(server, strace_options(path));
        TcpClient reader(proc.port());
        for (int i = 0; i < 20; ++i) {
            reader.send_all(ping);
            REQUIRE(reader.recv_exact(ping.size(), seconds(5)) == ping);
        }
        TcpClient flooder(proc.port());
        std::string chunk(64 * 1024, '\0');
        for (size_t i = 0; i < chunk.size(); ++i)
            chunk[i] = static_cast<char>('a' + (i * 7) % 26);
        chunk.replace(0, 9, "flood-go;");
        // Send without reading until the kernel takes nothing for a while:
        // our send buffer, the server's receive buffer, its 64 KiB output
        // buffer and its send buffer are all full.
        flood = hostile::flood_until_stall(flooder, chunk, milliseconds(300));
        flooder.shutdown_write();
        REQUIRE(flooder.recv_until_eof(seconds(20)) == flood);
        reader.send_all(ping); // still served
        REQUIRE(reader.recv_exact(ping.size(), seconds(5)) == ping);
        CHECK(proc.stop(seconds(10)) == 0);
    }
    Trace t = parse_strace_file(path);
    INFO("trace kept at " << path);
    const auto& calls = t.calls;
    size_t first_flood = calls.size();
    int reader_fd = -1;
    for (size_t i = 0; i < calls.size(); ++i) {
        if (!is_receive(calls[i].name)) continue;
        if (reader_fd < 0 && calls[i].text.find(ping) != std::string::npos)
            std::sscanf(calls[i].text.c_str(), "%*[a-z](%d", &reader_fd);
        if (calls[i].text.find("flood-go;") != std::string::npos) {
            first_flood = i;
            break;
        }
    }
    REQUIRE(reader_fd >= 0);
    REQUIRE(first_flood < calls.size());
    int mods_before = 0, mods_on_reader = 0, out_on = 0, in_off = 0;
    std::set<int> targets;
    for (size_t i = 0; i < calls.size(); ++i) {
        if (!is_mod(calls[i])) continue;
        const std::string& text = calls[i].text;
        int fd = ctl_target(text);
        if (i < first_flood) ++mods_before;
        if (fd == reader_fd) ++mods_on_reader;
        targets.insert(fd);
        if (text.find("EPOLLOUT") != std::string::npos) ++out_on;
        if (text.find("EPOLLIN") == std::string::npos) ++in_off;
    }
    CHECK(mods_before == 0);    // a client that reads costs no epoll_ctl
    CHECK(mods_on_reader == 0); // nor while another one floods
    CHECK(out_on >= 1);         // EAGAIN on the flooder: EPOLLOUT on
    CHECK(in_off >= 1);         // its buffer full: stop reading it (backpressure)
    CHECK(targets.size() == 1); // every MOD is the flooder's
    figure(name, "backpressure: flood_bytes=" + std::to_string(flood.size()) +
                     " mods_before_flood=" + std::to_string(mods_before) + " mods_epollout_on=" +
                     std::to_string(out_on) + " mods_epollin_off=" + std::to_string(in_off));
    std::remove(path.c_str());
    return {};
}

} // namespace

TEST_CASE("echo_tcp_epoll_lt sends the echo straight after the read, with no epoll_ctl, then "
          "sleeps",
          "[ch02][strace]") {
    if (auto skip = check_write_first("echo_tcp_epoll_lt")) IOLADDER_SKIP(*skip);
}

TEST_CASE("echo_udp_epoll_lt sends the echo straight after the read, with no epoll_ctl, then "
          "sleeps",
          "[ch02][strace]") {
    if (auto skip = check_write_first("echo_udp_epoll_lt")) IOLADDER_SKIP(*skip);
}

TEST_CASE("echo_tcp_epoll_lt makes at most 3 calls per message and no epoll_ctl at 1x1",
          "[ch02][strace]") {
    if (auto skip = check_fingerprint("echo_tcp_epoll_lt", 3.0, 0.0, 0.05)) IOLADDER_SKIP(*skip);
}

TEST_CASE("echo_udp_epoll_lt waits in epoll_wait and makes no epoll_ctl at 1x1", "[ch02][strace]") {
    // recvmsg until EAGAIN (a datagram socket has no short-read rule), sendto,
    // epoll_wait: 4 calls.
    if (auto skip = check_fingerprint("echo_udp_epoll_lt", 4.0, 0.0, 0.05)) IOLADDER_SKIP(*skip);
}

TEST_CASE("echo_tcp_epoll_lt switches EPOLL_CTL_MOD only while a client that does not read "
          "fills its buffer",
          "[ch02][strace]") {
    if (auto skip = check_mod_only_under_backpressure("echo_tcp_epoll_lt")) IOLADDER_SKIP(*skip);
}

TEST_CASE("echo_tcp_epoll_lt_armfirst switches EPOLLOUT on for every echo and off after it, "
          "then sleeps",
          "[ch02][strace]") {
    if (auto skip = check_arm_first("echo_tcp_epoll_lt_armfirst")) IOLADDER_SKIP(*skip);
}

TEST_CASE("echo_tcp_epoll_lt_armfirst pays two epoll_ctl and a second wait per message at 1x1",
          "[ch02][strace]") {
    if (auto skip = check_fingerprint("echo_tcp_epoll_lt_armfirst", 6.5, 1.5, 2.5))
        IOLADDER_SKIP(*skip);
}

// ---- level_nagging -----------------------------------------------------------

namespace {

// level_nagging is built next to the chapter's servers (same folder).
std::string nagging_path() {
    return program_path("02-epoll-level", "level_nagging");
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
