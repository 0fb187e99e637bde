// ch06_uring_test.cpp: chapter 06-uring, graded (the echo servers; the ring
// wrapper and the demos have ch06_ring_test.cpp and ch06_demos_test.cpp).
//
// The hostile-client suite for the four io_uring servers (multishot with
// buffer rings, and the single-shot fallback), the syscall fingerprint
// (io_uring_enter and no recv, send or accept of any kind), the log line
// that says which path runs, the per-connection 64 KiB bound enforced by
// -ENOBUFS, and the exit when io_uring is missing. Every case is skipped,
// with the reason, where io_uring_setup fails.
#include "catch_compat.hpp"
#include "harness.hpp"
#include "hostile.hpp"
#include "strace.hpp"

#include <chrono>
#include <string>

using namespace ioladder::test;
using ioladder::test::hostile::figure;
using ioladder::test::hostile::Outcome;
using std::chrono::seconds;
using namespace std::chrono_literals;

IOLADDER_HOSTILE_SUITE("ch06", "echo_tcp_uring", tcp)
IOLADDER_HOSTILE_SUITE("ch06", "echo_tcp_uring_single", tcp)
IOLADDER_HOSTILE_SUITE("ch06", "echo_udp_uring", udp)
IOLADDER_HOSTILE_SUITE("ch06", "echo_udp_uring_single", udp)

namespace {

// The calls a readiness server makes and a completion server must not.
#define IOLADDER_NOT_IN_A_PROACTOR                                                                 \
    {                                                                                              \
        "recvfrom", "recvmsg", "recvmmsg", "sendto", "sendmsg", "sendmmsg", "accept", "accept4",   \
            "select", "pselect6", "poll", "ppoll", "epoll_wait", "epoll_pwait"                     \
    }

Outcome check_fingerprint(const std::string& name) {
    hostile::TracedEcho run;
    // At 1x1 at most 2 calls per message (the budget): one
    // io_uring_enter submits the echo and returns with its completion, the
    // next sleeps until the next message has arrived.
    // The difference of two runs is exact up to the few calls that shutdown
    // may add to one of them (SIGTERM interrupting a wait, the cancels'
    // completions arriving in one io_uring_enter or in three): the bound
    // allows four calls over the 180 messages between the runs.
    const double bound = 2.0 + 4.0 / 180;
    if (auto skip = hostile::check_fingerprint(name, {"io_uring_enter"}, IOLADDER_NOT_IN_A_PROACTOR,
                                               bound, run, 1.0))
        return skip;
    INFO("trace kept at " << run.cost.trace_path);
    CHECK(run.cost.method == "difference");
    CHECK(run.per("io_uring_enter") == run.cost.syscalls_per_message); // nothing else per message
    std::remove(run.cost.trace_path.c_str());
    return {};
}

// Which path the server says it runs, from its -v log.
std::string path_line(const std::string& name, const std::string& proto) {
    StartOptions so;
    so.args = {"-v"};
    auto proc = ServerProcess::start(find_server(name), so);
    if (proto == "tcp") {
        TcpClient c(proc.port());
        c.send_all("x");
        CHECK(c.recv_exact(1, seconds(5)) == "x");
    } else {
        UdpClient c(proc.port());
        c.send("x");
        CHECK(c.recv(seconds(5)) == std::optional<std::string>("x"));
    }
    CHECK(proc.stop(seconds(5)) == 0);
    return proc.stderr_text();
}

} // namespace

// Each case first skips, with the reason, where io_uring is missing.
#define IOLADDER_NEEDS_URING(name)                                                                 \
    if (auto skip = hostile::unavailable(name)) IOLADDER_SKIP(*skip)

TEST_CASE("echo_tcp_uring makes io_uring_enter calls only, at most 2 per message", "[ch06]") {
    IOLADDER_NEEDS_URING("echo_tcp_uring");
    if (auto skip = check_fingerprint("echo_tcp_uring")) IOLADDER_SKIP(*skip);
}

TEST_CASE("echo_tcp_uring_single makes io_uring_enter calls only, at most 2 per message",
          "[ch06]") {
    IOLADDER_NEEDS_URING("echo_tcp_uring_single");
    if (auto skip = check_fingerprint("echo_tcp_uring_single")) IOLADDER_SKIP(*skip);
}

TEST_CASE("echo_udp_uring makes io_uring_enter calls only, at most 2 per message", "[ch06]") {
    IOLADDER_NEEDS_URING("echo_udp_uring");
    if (auto skip = check_fingerprint("echo_udp_uring")) IOLADDER_SKIP(*skip);
}

TEST_CASE("echo_udp_uring_single makes io_uring_enter calls only, at most 2 per message",
          "[ch06]") {
    IOLADDER_NEEDS_URING("echo_udp_uring_single");
    if (auto skip = check_fingerprint("echo_udp_uring_single")) IOLADDER_SKIP(*skip);
}

TEST_CASE("echo_tcp_uring says in its log which path runs: multishot or single shot", "[ch06]") {
    IOLADDER_NEEDS_URING("echo_tcp_uring");
    std::string multi = path_line("echo_tcp_uring", "tcp");
    INFO(multi);
    CHECK_THAT(multi, contains_text("multishot recv, buffer ring"));
    std::string single = path_line("echo_tcp_uring_single", "tcp");
    INFO(single);
    CHECK_THAT(single, contains_text("single-shot recv"));
    CHECK(single.find("multishot recv, buffer ring") == std::string::npos);
}

TEST_CASE("echo_udp_uring says in its log which path runs: multishot or single shot", "[ch06]") {
    IOLADDER_NEEDS_URING("echo_udp_uring");
    std::string multi = path_line("echo_udp_uring", "udp");
    INFO(multi);
    CHECK_THAT(multi, contains_text("multishot recvmsg, buffer ring of 64 slots"));
    std::string single = path_line("echo_udp_uring_single", "udp");
    INFO(single);
    CHECK_THAT(single, contains_text("single-shot recvmsg"));
}

// Where io_uring is switched off (here: strace makes io_uring_setup fail with
// EPERM, as kernel.io_uring_disabled=2 or a seccomp filter would), the server
// says why and exits 1 rather than serving nothing.
TEST_CASE("echo_tcp_uring exits 1 naming the reason when io_uring_setup is refused", "[ch06]") {
    if (auto st = strace_available(); !st.ok) IOLADDER_SKIP("needs strace: " + st.reason);
    ServerInfo s = find_server("echo_tcp_uring");
    auto run = run_program({"strace", "-f", "-o", "/dev/null", "-e",
                            "inject=io_uring_setup:error=EPERM", s.path, "--port", "0"},
                           seconds(10));
    INFO("stderr: " << run.err);
    CHECK(run.exit_code == 1);
    CHECK_THAT(run.err, contains_text("io_uring_setup: Operation not permitted"));
    CHECK_THAT(run.err, contains_text("io_uring is switched off for this process"));
    CHECK(run.out.find("listening on") == std::string::npos);
}

// The 64 KiB bound, as the kernel enforces it: a client that sends and does
// not read fills the connection's 4 buffers with echoes waiting to be sent;
// the recv then stops (-ENOBUFS with a buffer ring, no free buffer without)
// and the client's data waits in the kernel. Once the client reads, the
// buffers come back, reading resumes, and every byte returns in order.
static void check_backpressure(const std::string& name) {
    StartOptions so;
    so.args = {"-v"};
    auto proc = ServerProcess::start(find_server(name), so);
    TcpClient client(proc.port());
    const std::string data = pattern_bytes(6, 16 << 20);
    size_t sent = 0;
    auto quiet_since = std::chrono::steady_clock::now();
    while (sent < data.size() && std::chrono::steady_clock::now() - quiet_since < 300ms) {
        size_t n = client.send_some(std::string_view(data).substr(sent, 64 << 10));
        if (n > 0) quiet_since = std::chrono::steady_clock::now();
        sent += n;
    }
    INFO("sent " << sent << " bytes before the client's send buffer stayed full");
    CHECK(sent < data.size()); // the server stopped taking data
    std::string back = client.recv_exact(sent, seconds(20));
    CHECK(back == data.substr(0, sent));
    client.close();
    CHECK(proc.stop(seconds(5)) == 0);
    std::string log = proc.stderr_text();
    CHECK_THAT(log, contains_text("buffers wait to be sent, reading stops"));
    CHECK_THAT(log, contains_text("buffers came back, reading again"));
    figure(name, "backpressure_sent_before_stop=" + std::to_string(sent));
}

TEST_CASE(
    "echo_tcp_uring stops reading when its 64 KiB of buffers wait and resumes when they are sent",
    "[ch06]") {
    IOLADDER_NEEDS_URING("echo_tcp_uring");
    check_backpressure("echo_tcp_uring");
}

TEST_CASE("echo_tcp_uring_single stops reading when its 64 KiB of buffers wait and resumes when "
          "they are sent",
          "[ch06]") {
    IOLADDER_NEEDS_URING("echo_tcp_uring_single");
    check_backpressure("echo_tcp_uring_single");
}
