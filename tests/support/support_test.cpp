// support_test.cpp: the harness tests itself, so a chapter test that passes
// means the server is right, not that the harness could not tell.
//
// The strace parser runs on recorded trace text; the process plumbing runs
// against /bin/sh scripts that behave like (good and bad) servers.
#include "catch_compat.hpp"
#include "harness.hpp"
#include "strace.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <functional>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace ioladder::test;
using std::chrono::seconds;

namespace {

// `sh -c SCRIPT sh --port 0`: start() appends "--port 0", which the script
// sees as "$@" and ignores.
StartOptions shell(const std::string& script, milliseconds ready = seconds(5)) {
    StartOptions o;
    o.args = {"-c", script, "sh"};
    o.ready_timeout = ready;
    return o;
}

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const std::exception& e) {
        return e.what();
    }
    return "(no exception)";
}

} // namespace

// ---- strace parsing --------------------------------------------------------

TEST_CASE("the strace parser joins unfinished and resumed calls and counts them once",
          "[support]") {
    Trace t = parse_strace_text(
        "101 select(8, [3 5], [], NULL, NULL <unfinished ...>\n"
        "102 write(1, \"x\", 1)        = 1\n"
        "101 <... select resumed>)      = 1 (in [3])\n"
        "[pid 103] poll([{fd=3, events=POLLIN}], 1, -1) = 1 ([{fd=3, revents=POLLIN}])\n"
        "101 --- SIGTERM {si_signo=SIGTERM, si_code=SI_USER} ---\n"
        "101 exit_group(0)                    = ?\n"
        "101 +++ exited with 0 +++\n");
    REQUIRE(t.calls.size() == 4);
    CHECK(t.counts.at("select") == 1);
    CHECK(t.counts.at("poll") == 1);
    CHECK(t.calls[0].pid == 101);
    CHECK(t.calls[0].has_result);
    CHECK(t.calls[0].result == 1);
    CHECK(t.calls[0].text.find("(in [3])") != std::string::npos);
    CHECK(t.calls[2].pid == 103);
    CHECK_FALSE(t.calls[3].has_result); // exit_group = ?
    REQUIRE(t.signals.size() == 1);
    CHECK(t.signals[0].rfind("SIGTERM", 0) == 0);
    REQUIRE(t.exits.size() == 1);
    CHECK(t.exits[0] == "exited with 0");
    CHECK(t.has_call("select"));
    CHECK_FALSE(t.has_call("epoll_wait"));
}

TEST_CASE("the strace parser is not fooled by payloads that look like syntax", "[support]") {
    Trace t = parse_strace_text(
        "7 sendto(3, \"ab) = 99 \\\"(]\", 12, 0, NULL, 0) = 12\n"
        "7 recvfrom(3, 0x7ffd, 2048, 0, 0x7ffc, [16]) = -1 EAGAIN (Resource temporarily "
        "unavailable)\n"
        "no call on this line\n");
    REQUIRE(t.calls.size() == 2);
    CHECK(t.calls[0].result == 12);
    CHECK(t.calls[1].result == -1);
    CHECK(t.calls[1].error == "EAGAIN");
    CHECK(t.lines.size() == 3);
}

TEST_CASE("fds_open_at_exit follows every way a descriptor is made and closed", "[support]") {
    Trace t = parse_strace_text(
        "1 openat(AT_FDCWD, \"/lib/libc.so.6\", O_RDONLY|O_CLOEXEC) = 3\n"
        "1 close(3)                                = 0\n"
        "1 socket(AF_INET, SOCK_STREAM, IPPROTO_IP) = 3\n"
        "1 pipe2([4, 5], O_NONBLOCK|O_CLOEXEC)     = 0\n"
        "1 accept4(3, NULL, NULL, SOCK_CLOEXEC)    = 6\n"
        "1 accept4(3, NULL, NULL, SOCK_CLOEXEC)    = -1 EAGAIN (Resource temporarily unavailable)\n"
        "1 dup2(6, 7)                              = 7\n"
        "1 fcntl(7, F_DUPFD_CLOEXEC, 3)            = 8\n"
        "1 close(6)                                = 0\n"
        "1 close(8)                                = -1 EINTR (Interrupted system call)\n"
        "1 close(9)                                = -1 EBADF (Bad file descriptor)\n"
        "1 epoll_create1(EPOLL_CLOEXEC)            = 9\n"
        "1 close_range(9, 4294967295 /* ~0U */, 0) = 0\n"
        "1 socketpair(AF_UNIX, SOCK_STREAM, 0, [10, 11]) = 0\n"
        "1 close(11)                               = 0\n"
        "1 dup2(4, 1)                              = 1\n"
        "1 +++ exited with 0 +++\n");
    // 3 socket, 4 5 pipe, 7 dup2 target and 10 socketpair stay open; 6 and
    // 11 closed, 8 closed by a failed-but-final close, 9 by close_range,
    // 1 is not counted (stdio).
    CHECK(fds_open_at_exit(t) == std::vector<int>{3, 4, 5, 7, 10});
}

TEST_CASE("the strace parser reads a real trace of a program that leaks a descriptor",
          "[support][strace]") {
    auto st = strace_available();
    if (!st.ok) IOLADDER_SKIP("needs strace: " + st.reason);
    std::string path = temp_path("strace-self") + ".txt";
    // The shell opens fd 5 and exits without closing it; fd 6 is closed.
    RunResult r = run_program({"strace", "-f", "-o", path, "/bin/sh", "-c",
                               "exec 5</dev/null; exec 6</dev/null; exec 6<&-; /bin/true"});
    REQUIRE(r.exit_code == 0);
    Trace t = parse_strace_file(path);
    std::remove(path.c_str());
    CHECK(t.has_call("execve"));
    CHECK(t.exits.size() == 2); // sh and its child /bin/true
    auto left = fds_open_at_exit(t);
    CHECK(std::find(left.begin(), left.end(), 5) != left.end());
    CHECK(std::find(left.begin(), left.end(), 6) == left.end());
}

// ---- the server list -------------------------------------------------------

TEST_CASE("the server list is read, with a variant's arguments and a via word, and a malformed "
          "line is rejected",
          "[support]") {
    std::string path = temp_path("servers") + ".txt";
    {
        std::ofstream f(path);
        f << "ch01 01-select echo_udp_select udp /x/echo_udp_select\n\n"
             "ch01 01-select echo_tcp_poll tcp /x/echo_tcp_poll\n"
             "ch02 02-epoll-level echo_v tcp /x/echo_tcp_epoll_lt --arm-first -q\n"
             "ch04 04-kqueue echo_k tcp via=epoll /x/echo_tcp_kqueue --level\n";
    }
    auto list = load_server_list(path);
    REQUIRE(list.size() == 4);
    CHECK(list[1].name == "echo_tcp_poll");
    CHECK(list[1].proto == "tcp");
    CHECK(list[1].path == "/x/echo_tcp_poll");
    CHECK(list[1].args.empty());
    CHECK(list[2].args == std::vector<std::string>{"--arm-first", "-q"});
    CHECK(list[2].label() == "echo_v");
    CHECK(list[3].via == "epoll");
    CHECK(list[3].path == "/x/echo_tcp_kqueue");
    CHECK(list[3].args == std::vector<std::string>{"--level"});
    CHECK(list[3].label() == "echo_k (via epoll)");
    for (const char* bad : {"ch01 01-select echo tcp\n", "ch01 01-select echo sctp /x\n",
                            "ch04 04-kqueue echo tcp via=epoll\n"}) {
        std::ofstream(path) << bad;
        CHECK_THROWS_WITH(load_server_list(path), contains_text(":1:"));
    }
    std::remove(path.c_str());
    CHECK_THROWS(load_server_list("/nonexistent/servers.txt"));
}

// ---- ServerProcess against stand-in servers --------------------------------

TEST_CASE("a server process is started, measured and stopped with its exit code", "[support]") {
    auto p = ServerProcess::start(
        "/bin/sh", shell("trap 'exit 0' TERM; echo 'listening on 127.0.0.1:5555 (tcp)'; "
                         "echo 'a log line' >&2; while :; do sleep 0.05; done"));
    CHECK(p.port() == 5555);
    CHECK(p.proto() == "tcp");
    CHECK(p.listening_line() == "listening on 127.0.0.1:5555 (tcp)");
    CHECK(p.running());
    // Both read from /proc. VmHWM is at least VmRSS only within one read of
    // /proc/PID/status: the kernel keeps the peak lazily and reports the
    // larger of it and the current size, so after the process shrinks a
    // later peak can be below an earlier current size (seen: 1760 < 1764).
    CHECK(p.rss_kib() > 0);
    CHECK(p.peak_rss_kib() > 0);
    CHECK(p.fd_count() >= 3);
    CHECK(wait_until([&] { return p.stderr_text() == "a log line\n"; }, seconds(2)));
    CHECK(p.cpu_seconds() == -1); // known once reaped
    CHECK(p.stop() == 0);
    CHECK_FALSE(p.running());
    CHECK(p.cpu_seconds() > 0); // at least its exec and the shell's start-up
}

TEST_CASE("a server that dies of a signal reports 128 plus the signal", "[support]") {
    auto p =
        ServerProcess::start("/bin/sh", shell("echo 'listening on [::1]:7 (udp)'; exec sleep 30"));
    CHECK(p.port() == 7);
    CHECK(p.proto() == "udp");
    CHECK(p.stop() == 128 + SIGTERM);
}

TEST_CASE("a server that ignores SIGTERM is killed and reported as -1", "[support]") {
    auto p = ServerProcess::start(
        "/bin/sh", shell("trap '' TERM; echo 'listening on 127.0.0.1:9 (tcp)'; exec sleep 30"));
    CHECK(p.stop(milliseconds(300)) == -1);
    CHECK_FALSE(p.running());
}

TEST_CASE("start failures say what happened and show the server's stderr", "[support]") {
    CHECK_THAT(error_of([] {
                   ServerProcess::start("/bin/sh",
                                        shell("echo 'bind: Address in use' >&2; exit 3"));
               }),
               contains_text("code 3") && contains_text("bind: Address in use"));
    CHECK_THAT(
        error_of([] { ServerProcess::start("/bin/sh", shell("sleep 5", milliseconds(200))); }),
        contains_text("no 'listening on' line within 200 ms"));
    CHECK_THAT(error_of([] { ServerProcess::start("/bin/sh", shell("echo hello; sleep 5")); }),
               contains_text("got 'hello'"));
    CHECK_THAT(error_of([] { ServerProcess::start("/nonexistent/server"); }),
               contains_text("/nonexistent/server"));
}

TEST_CASE("a wrapped server's pid is the wrapper's child, and stop reaches it", "[support]") {
    StartOptions o = shell("trap 'exit 0' TERM; echo 'listening on 127.0.0.1:5 (tcp)'; "
                           "while :; do sleep 0.05; done");
    // A wrapper that forks the server and exits with its status, like strace.
    o.wrapper = {"/bin/sh", "-c", "\"$@\"; exit $?", "wrapper"};
    auto p = ServerProcess::start("/bin/sh", o);
    CHECK(p.pid() > 0);
    std::ifstream parent("/proc/" + std::to_string(p.pid()) + "/stat");
    std::string pid, comm, state;
    long ppid = 0;
    parent >> pid >> comm >> state >> ppid;
    CHECK(ppid != getpid()); // the grandchild, not the wrapper we forked
    CHECK(p.stop() == 0);
}

// ---- clients ---------------------------------------------------------------

TEST_CASE("the TCP client times out, sees EOF and sends a reset", "[support]") {
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(lfd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0);
    REQUIRE(listen(lfd, 8) == 0);
    socklen_t len = sizeof sin;
    getsockname(lfd, reinterpret_cast<sockaddr*>(&sin), &len);
    uint16_t port = ntohs(sin.sin_port);

    TcpClient c(port);
    int peer = accept(lfd, nullptr, nullptr);
    REQUIRE(peer >= 0);
    CHECK_THROWS_WITH(c.recv_exact(1, milliseconds(50)), contains_text("timed out"));
    REQUIRE(write(peer, "abc", 3) == 3);
    shutdown(peer, SHUT_WR);
    CHECK(c.recv_until_eof(seconds(2)) == "abc");
    c.send_all("xyz");
    c.reset_abruptly();
    char buf[8];
    ssize_t n = -1;
    // The peer reads what was sent, then ECONNRESET (not a FIN's 0).
    n = recv(peer, buf, sizeof buf, 0);
    CHECK(n == 3);
    n = recv(peer, buf, sizeof buf, 0);
    CHECK(n == -1);
    CHECK(errno == ECONNRESET);
    close(peer);
    close(lfd);
}

TEST_CASE("pattern bytes differ per seed and per offset", "[support]") {
    auto a = pattern_bytes(1, 4096), b = pattern_bytes(2, 4096);
    CHECK(a == pattern_bytes(1, 4096));
    CHECK(a != b);
    CHECK(a.substr(0, 8) != a.substr(8, 8));
    CHECK(describe_mismatch(a, b).find("byte 0") != std::string::npos);
    CHECK(describe_mismatch(a, a) == "identical");
}

TEST_CASE("raising the fd limit never goes above the hard limit", "[support]") {
    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);
    CHECK(raise_fd_limit(64) >= 64);
    CHECK(raise_fd_limit(RLIM_INFINITY) == rl.rlim_max);
    if (rl.rlim_max != RLIM_INFINITY) CHECK_FALSE(fd_limit_at_least(rl.rlim_max + 1).ok);
}
