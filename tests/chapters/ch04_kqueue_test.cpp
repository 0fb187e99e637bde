// ch04_kqueue_test.cpp: chapter 04-kqueue's servers, graded (the kqueue
// facts the Linux teaching layer promises have ch04_kqueue_layer_test.cpp).
//
// The hostile-client suite for the three servers and their command line;
// data and FIN, and data behind an urgent mark, arriving in one event; and,
// where strace runs (Linux, so the kqueue calls appear as the layer's epoll
// calls underneath): the syscall fingerprint (write first, at most 3 calls
// per message at 1x1, EPOLLET for EV_CLEAR and none for --level), one
// epoll_ctl per registration, the write filter under backpressure (added
// once and kept under EV_CLEAR; a oneshot per stall under --level), the stop
// through EVFILT_USER (a write to an eventfd, no pipe), and the accept
// back-off through a one-shot EVFILT_TIMER (a timerfd).
#include "catch_compat.hpp"
#include "harness.hpp"
#include "hostile.hpp"
#include "strace.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

using namespace ioladder::test;
using ioladder::test::hostile::figure;
using ioladder::test::hostile::Outcome;
using std::chrono::milliseconds;
using std::chrono::seconds;

IOLADDER_HOSTILE_SUITE("ch04", "echo_udp_kqueue", udp)
IOLADDER_HOSTILE_SUITE("ch04", "echo_tcp_kqueue", tcp)
IOLADDER_HOSTILE_SUITE("ch04", "echo_tcp_kqueue_level", tcp)

TEST_CASE("echo_tcp_kqueue serves more connections than FD_SETSIZE at once", "[ch04][fd_setsize]") {
    if (auto skip = hostile::tcp_serves_beyond_fd_setsize("echo_tcp_kqueue")) IOLADDER_SKIP(*skip);
}

// ---- data and FIN, data behind an urgent mark, in one event -------------------

// The server is stopped while the client sends its last bytes and its FIN
// (or bytes around an urgent mark), so one read event reports them: EV_EOF
// with the bytes before the FIN counted in `data`, or (natively) a count
// that takes in the bytes past the mark. The checks are chapter 03's
// (hostile.hpp).
using ioladder::test::hostile::check_data_and_fin_in_one_wakeup;
using ioladder::test::hostile::check_urgent_mark_in_one_wakeup;

TEST_CASE("echo_tcp_kqueue echoes the data and closes when data and FIN arrive in one event",
          "[ch04][eof]") {
    check_data_and_fin_in_one_wakeup("echo_tcp_kqueue");
}

TEST_CASE("echo_tcp_kqueue_level echoes the data and closes when data and FIN arrive in one "
          "event",
          "[ch04][eof]") {
    check_data_and_fin_in_one_wakeup("echo_tcp_kqueue_level");
}

TEST_CASE("echo_tcp_kqueue echoes the bytes behind an urgent mark that arrived in the same event",
          "[ch04][eof]") {
    check_urgent_mark_in_one_wakeup("echo_tcp_kqueue");
}

TEST_CASE("echo_tcp_kqueue_level echoes the bytes behind an urgent mark that arrived in the "
          "same event",
          "[ch04][eof]") {
    check_urgent_mark_in_one_wakeup("echo_tcp_kqueue_level");
}

// ---- under strace: the kqueue calls as epoll calls ---------------------------

namespace {

bool is_receive(const std::string& name) {
    return name == "recvfrom" || name == "recvmsg" || name == "read" || name == "recv";
}

// "epoll_ctl(4, EPOLL_CTL_MOD, 7, {...})": the operation and the target.
bool ctl_parts(const Call& c, std::string& op, int& fd) {
    int epfd = -1;
    char buf[32] = "";
    if (c.name != "epoll_ctl" ||
        std::sscanf(c.text.c_str(), "epoll_ctl(%d, %31[A-Z_], %d", &epfd, buf, &fd) != 3)
        return false;
    op = buf;
    return true;
}

// The descriptor of the first receive call whose text holds `tag`; -1 if none.
int fd_that_received(const Trace& t, const std::string& tag) {
    for (const Call& c : t.calls) {
        int fd = -1;
        if (is_receive(c.name) && c.text.find(tag) != std::string::npos &&
            std::sscanf(c.text.c_str(), "%*[a-z](%d", &fd) == 1)
            return fd;
    }
    return -1;
}

// A pipe the program made itself. Under AddressSanitizer the runtime calls
// pipe2(fds, 0) to probe memory; the chapter's code, had it a self-pipe,
// would pass O_CLOEXEC (chapter 01's rule), so flags 0 are not ours.
bool made_a_pipe(const Trace& t) {
    for (const Call& c : t.calls) {
        if (c.name == "pipe") return true;
        if (c.name == "pipe2" && c.text.find("], 0)") == std::string::npos) return true;
    }
    return false;
}

// The echo under strace, 200 round trips at 1x1. On Linux the kqueue server
// shows the layer's calls: epoll_wait for kevent()'s wait, epoll_ctl for its
// changes, an eventfd for the EVFILT_USER stop event. Write first: no
// epoll_ctl in the echo window at all.
Outcome check_fingerprint(const std::string& name, bool edge) {
    hostile::TracedEcho run;
    if (auto skip = hostile::check_fingerprint(name, {"epoll_wait", "epoll_pwait", "kevent"},
                                               {"select", "pselect6", "poll", "ppoll"}, 12.0, run))
        return skip;
    INFO("trace kept at " << run.cost.trace_path);
    CHECK_FALSE(made_a_pipe(run.trace));
    CHECK(run.trace.has_call("epoll_create1")); // kqueue()
    CHECK(run.trace.has_call("eventfd2"));      // the EVFILT_USER stop event
    CHECK(run.cost.per_call.count("epoll_ctl") == 0);
    const bool udp = name.find("udp") != std::string::npos;
    int adds = 0, adds_with_et = 0;
    for (const Call& c : run.trace.calls) {
        std::string op;
        int fd;
        if (!ctl_parts(c, op, fd) || op != "EPOLL_CTL_ADD" ||
            c.text.find("EPOLLIN") == std::string::npos)
            continue;
        ++adds;
        adds_with_et += c.text.find("EPOLLET") != std::string::npos;
    }
    // EV_CLEAR is EPOLLET. UDP: the socket; TCP: the listener and the client
    // connection; and the stop event's eventfd, which is EV_CLEAR too.
    CHECK(adds >= (udp ? 2 : 3));
    CHECK(adds_with_et == (edge ? adds : 1));
    if (udp) {
        CHECK(run.per("recvmsg") >= 1.95); // a datagram socket drains to EAGAIN
    } else {
        // Write first and the short-read rule: epoll_wait, recv, send. The
        // stop thread's sigwait() may start late, in the window, on a busy
        // machine: it is not the loop's.
        CHECK(run.per("recvfrom") + run.per("recvmsg") + run.per("read") <= 1.05);
        CHECK(run.echo_calls_per_message() - run.per("rt_sigtimedwait") <= 3.0);
    }
    std::remove(run.cost.trace_path.c_str());
    return {};
}

} // namespace

TEST_CASE("echo_udp_kqueue registers both filters with EV_CLEAR (EPOLLET) and drains to EAGAIN",
          "[ch04][strace]") {
    if (auto skip = check_fingerprint("echo_udp_kqueue", true)) IOLADDER_SKIP(*skip);
}

TEST_CASE("echo_tcp_kqueue writes first and makes at most 3 calls per message, seen as epoll calls",
          "[ch04][strace]") {
    if (auto skip = check_fingerprint("echo_tcp_kqueue", true)) IOLADDER_SKIP(*skip);
}

TEST_CASE("echo_tcp_kqueue_level writes first and makes at most 3 calls per message, seen as "
          "epoll calls without EPOLLET",
          "[ch04][strace]") {
    if (auto skip = check_fingerprint("echo_tcp_kqueue_level", false)) IOLADDER_SKIP(*skip);
}

namespace {

// 40 connections one after another, each echoing once and closing: the
// numbers come back, so most registrations reuse a number whose old
// connection still had filters when it was closed. The layer adds one
// epoll_ctl per connection (EV_ADD of its read filter) and none to undo it:
// close() removed the registration.
Outcome check_one_ctl_per_connection(const std::string& name) {
    if (auto st = strace_available(); !st.ok) return "needs strace: " + st.reason;
    const std::string path = temp_path("strace-ctl-" + name) + ".txt";
    const int kConnections = 40;
    {
        auto proc = ServerProcess::start(find_server(name), strace_options(path));
        for (int i = 0; i < kConnections; ++i) {
            TcpClient c(proc.port());
            std::string msg = "conn-" + std::to_string(i) + ";";
            c.send_all(msg);
            REQUIRE(c.recv_exact(msg.size(), seconds(5)) == msg);
            c.shutdown_write();
            REQUIRE(c.recv_until_eof(seconds(5)).empty());
        }
        CHECK(proc.stop() == 0);
    }
    Trace t = parse_strace_file(path);
    INFO("trace kept at " << path);
    int conn_fd = fd_that_received(t, "conn-0;");
    REQUIRE(conn_fd >= 0);
    std::map<std::string, int> ops;
    for (const Call& c : t.calls) {
        std::string op;
        int fd;
        if (ctl_parts(c, op, fd) && fd >= conn_fd) ++ops[op]; // connections come after the rest
    }
    figure(name, "epoll_ctl for " + std::to_string(kConnections) +
                     " connections: add=" + std::to_string(ops["EPOLL_CTL_ADD"]) +
                     " mod=" + std::to_string(ops["EPOLL_CTL_MOD"]) +
                     " del=" + std::to_string(ops["EPOLL_CTL_DEL"]));
    CHECK(ops["EPOLL_CTL_ADD"] == kConnections);
    CHECK(ops["EPOLL_CTL_MOD"] == 0);
    CHECK(ops["EPOLL_CTL_DEL"] == 0);
    std::remove(path.c_str());
    return {};
}

} // namespace

TEST_CASE("echo_tcp_kqueue costs one epoll_ctl per connection through the layer, numbers reused "
          "or not",
          "[ch04][strace]") {
    if (auto skip = check_one_ctl_per_connection("echo_tcp_kqueue")) IOLADDER_SKIP(*skip);
}

TEST_CASE("echo_tcp_kqueue_level costs one epoll_ctl per connection through the layer, numbers "
          "reused or not",
          "[ch04][strace]") {
    if (auto skip = check_one_ctl_per_connection("echo_tcp_kqueue_level")) IOLADDER_SKIP(*skip);
}

namespace {

// A client that reads its echoes, then one that sends without reading until
// nothing more goes in, then reads everything back. Write first: no change
// at all for the reader. The flooder's write filter: under EV_CLEAR added
// once (one MOD that adds EPOLLOUT|EPOLLET) and kept; under --level a
// oneshot added at every EAGAIN, and the read filter deleted and added back
// while the buffer is full.
Outcome check_backpressure(const std::string& name, bool edge) {
    if (auto st = strace_available(); !st.ok) return "needs strace: " + st.reason;
    const std::string path = temp_path("strace-backpressure-" + name) + ".txt";
    const std::string ping = "reader-ping-0815;";
    std::string flood;
    {
        auto proc = ServerProcess::start(find_server(name), strace_options(path));
        TcpClient reader(proc.port());
        for (int i = 0; i < 20; ++i) {
            reader.send_all(ping);
            REQUIRE(reader.recv_exact(ping.size(), seconds(5)) == ping);
        }
        TcpClient flooder(proc.port());
        std::string chunk = pattern_bytes(11, 64 * 1024);
        chunk.replace(0, 9, "flood-go;");
        flood = hostile::flood_until_stall(flooder, chunk, milliseconds(300));
        flooder.shutdown_write();
        REQUIRE(flooder.recv_until_eof(seconds(20)) == flood);
        reader.send_all(ping);
        REQUIRE(reader.recv_exact(ping.size(), seconds(5)) == ping);
        CHECK(proc.stop(seconds(10)) == 0);
    }
    Trace t = parse_strace_file(path);
    INFO("trace kept at " << path);
    const int reader_fd = fd_that_received(t, ping);
    const int flooder_fd = fd_that_received(t, "flood-go;");
    REQUIRE(reader_fd >= 0);
    REQUIRE(flooder_fd >= 0);
    int reader_changes = 0, out_on = 0, in_off = 0, dels = 0;
    for (const Call& c : t.calls) {
        std::string op;
        int fd;
        if (!ctl_parts(c, op, fd) || op == "EPOLL_CTL_ADD") continue;
        if (fd == reader_fd) ++reader_changes;
        if (fd != flooder_fd) continue;
        if (op == "EPOLL_CTL_DEL") ++dels;
        if (c.text.find("EPOLLOUT") != std::string::npos) ++out_on;
        // The read filter deleted: a MOD without EPOLLIN, or a DEL when no
        // write filter was left either.
        if (op == "EPOLL_CTL_DEL" ||
            (op == "EPOLL_CTL_MOD" && c.text.find("EPOLLIN") == std::string::npos))
            ++in_off;
    }
    figure(name, "backpressure: flood_bytes=" + std::to_string(flood.size()) +
                     " reader_changes=" + std::to_string(reader_changes) + " flooder_epollout_on=" +
                     std::to_string(out_on) + " flooder_epollin_off=" + std::to_string(in_off) +
                     " flooder_del=" + std::to_string(dels));
    CHECK(reader_changes == 0); // a client that reads costs nothing, even beside a flooder
    if (edge) {
        CHECK(out_on == 1); // the write filter, added at the first EAGAIN and kept
        CHECK(in_off == 0); // the read filter stays: EV_CLEAR does not nag
        CHECK(dels == 0);
    } else {
        CHECK(out_on >= 1); // a oneshot write filter per stall
        CHECK(in_off >= 1); // the read filter deleted while the buffer is full
    }
    std::remove(path.c_str());
    return {};
}

} // namespace

TEST_CASE("echo_tcp_kqueue adds the write filter once, at the first EAGAIN, and keeps it",
          "[ch04][strace]") {
    if (auto skip = check_backpressure("echo_tcp_kqueue", true)) IOLADDER_SKIP(*skip);
}

TEST_CASE("echo_tcp_kqueue_level adds a oneshot write filter at each EAGAIN and deletes the read "
          "filter while its buffer is full",
          "[ch04][strace]") {
    if (auto skip = check_backpressure("echo_tcp_kqueue_level", false)) IOLADDER_SKIP(*skip);
}

namespace {

// SIGTERM is taken by the stop thread's sigwait(), which triggers the
// EVFILT_USER event: one write of 1 to the layer's eventfd, reported by the
// loop's epoll_wait. No self-pipe, no signal handler, no read of the eventfd.
Outcome check_stop_event(const std::string& name) {
    if (auto st = strace_available(); !st.ok) return "needs strace: " + st.reason;
    const std::string path = temp_path("strace-stop-" + name) + ".txt";
    {
        auto proc = ServerProcess::start(find_server(name), strace_options(path));
        CHECK(proc.stop() == 0);
    }
    Trace t = parse_strace_file(path);
    INFO("trace kept at " << path);
    int efd = -1;
    for (const Call& c : t.calls)
        if (c.name == "eventfd2" && c.has_result) efd = static_cast<int>(c.result);
    REQUIRE(efd >= 0);
    int writes = 0, reads = 0;
    bool reported = false;
    const std::string fd_arg = "(" + std::to_string(efd) + ",";
    const std::string in_report = "u32=" + std::to_string(efd) + ",";
    for (const Call& c : t.calls) {
        if (c.name == "write" && c.text.rfind("write" + fd_arg, 0) == 0) ++writes;
        if (c.name == "read" && c.text.rfind("read" + fd_arg, 0) == 0) ++reads;
        if (c.name == "epoll_wait" && c.text.find(in_report) != std::string::npos) reported = true;
    }
    CHECK(t.has_call("rt_sigtimedwait")); // sigwait() in the stop thread
    CHECK_FALSE(made_a_pipe(t));
    CHECK(writes == 1);
    CHECK(reads == 0);
    CHECK(reported);
    std::remove(path.c_str());
    return {};
}

} // namespace

TEST_CASE("echo_tcp_kqueue stops on SIGTERM through its EVFILT_USER event: one eventfd write, "
          "no pipe",
          "[ch04][strace]") {
    if (auto skip = check_stop_event("echo_tcp_kqueue")) IOLADDER_SKIP(*skip);
}

TEST_CASE("echo_udp_kqueue stops on SIGTERM through its EVFILT_USER event: one eventfd write, "
          "no pipe",
          "[ch04][strace]") {
    if (auto skip = check_stop_event("echo_udp_kqueue")) IOLADDER_SKIP(*skip);
}

namespace {

// Every accept4 after the first few fails with ENOBUFS for a while (strace
// makes it fail without running it: the connection stays queued). The
// acceptor backs off, the server arms a one-shot EVFILT_TIMER (a timerfd
// with no interval), and when it fires accepts what waited. Every client is
// served.
Outcome check_backoff_timer(const std::string& name) {
    if (auto st = strace_available(); !st.ok) return "needs strace: " + st.reason;
    const std::string path = temp_path("strace-backoff-" + name) + ".txt";
    {
        StartOptions o = strace_options(path);
        std::vector<std::string> inject = {"-e", "inject=accept4:error=ENOBUFS:when=2..6"};
        o.wrapper.insert(o.wrapper.begin() + 1, inject.begin(), inject.end());
        auto proc = ServerProcess::start(find_server(name), o);
        std::vector<TcpClient> clients;
        for (int i = 0; i < 4; ++i)
            clients.emplace_back(proc.port());
        for (size_t i = 0; i < clients.size(); ++i) {
            std::string msg = "queued-" + std::to_string(i) + ";";
            clients[i].send_all(msg);
            INFO("client " << i);
            CHECK(clients[i].recv_exact(msg.size(), seconds(5)) == msg);
        }
        CHECK(proc.stop() == 0);
    }
    Trace t = parse_strace_file(path);
    INFO("trace kept at " << path);
    int oneshot_timers = 0;
    for (const Call& c : t.calls)
        if (c.name == "timerfd_settime" &&
            c.text.find("it_interval={tv_sec=0, tv_nsec=0}") != std::string::npos)
            ++oneshot_timers;
    CHECK(t.has_call("timerfd_create"));
    CHECK(oneshot_timers >= 1);
    std::remove(path.c_str());
    return {};
}

} // namespace

TEST_CASE("echo_tcp_kqueue backs off after an accept failure with a one-shot EVFILT_TIMER and "
          "then serves every queued client",
          "[ch04][strace]") {
    if (auto skip = check_backoff_timer("echo_tcp_kqueue")) IOLADDER_SKIP(*skip);
}

TEST_CASE("echo_tcp_kqueue_level backs off after an accept failure with a one-shot EVFILT_TIMER "
          "and then serves every queued client",
          "[ch04][strace]") {
    if (auto skip = check_backoff_timer("echo_tcp_kqueue_level")) IOLADDER_SKIP(*skip);
}
