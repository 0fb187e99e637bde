// harness.hpp: start an echo server, read its port, talk to it, stop it.
//
// Used by the chapter tests, the tour and the book's trace generator, so it
// does not depend on Catch2: every failure is a std::runtime_error whose text
// says what was being done and, for a failed call, the errno text. Every wait
// has a timeout, because a broken event loop hangs rather than fails.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <sys/resource.h>
#include <sys/types.h>
#include <thread>
#include <vector>

namespace ioladder::test {

using std::chrono::milliseconds;

// One line of servers.txt: "ch01 01-select echo_udp_select udp /abs/path",
// optionally followed by arguments the program always runs with (a variant
// such as "echo_tcp_epoll_lt_armfirst ... /abs/echo_tcp_epoll_lt --arm-first").
// A "via=epoll" word before the path says the server's mechanism runs on
// another one in this build (chapter 04's kqueue on Linux).
struct ServerInfo {
    std::string chapter, dir, name, proto, path;
    std::vector<std::string> args;
    std::string via; // "epoll", or empty
    // The name as the tour and the bench print it: "echo_tcp_kqueue (via epoll)".
    std::string label() const { return via.empty() ? name : name + " (via " + via + ")"; }
};

// Reads the server list; throws on a line that has fewer than the five
// fields above (or a protocol other than tcp/udp). Blank lines are skipped.
std::vector<ServerInfo> load_server_list(const std::string& file);

// The server list: $IOLADDER_SERVER_LIST when set (to run the suites against
// a server of your own), else the build's list, whose path CMake compiles in
// as IOLADDER_SERVER_LIST.
std::string server_list_path();

// The registered server called `name` from that list. Throws if there is none.
ServerInfo find_server(const std::string& name);

// A program that is not an echo server, built in the chapter folder `dir`
// ("02-epoll-level") of this build: <build>/chapters/<dir>/<name>. Throws,
// naming the target to build, when it is not there.
std::string program_path(const std::string& dir, const std::string& name);

// All registered servers of one chapter label ("ch01"), in list order.
std::vector<ServerInfo> servers_of_chapter(const std::string& chapter);

struct StartOptions {
    std::vector<std::string> args;    // extra arguments, before the added "--port 0"
    std::vector<std::string> wrapper; // a command to run the server under, e.g. strace
    milliseconds ready_timeout{5000}; // how long to wait for the "listening on" line
    std::vector<std::string> env;     // "NAME=value" entries added to (or replacing in) ours
};

// A running server. Move-only; the destructor SIGKILLs and reaps whatever is
// still running, so a failed REQUIRE never leaves a server behind.
class ServerProcess {
  public:
    // fork/exec `[wrapper...] path args... --port 0`, then wait for the
    // "listening on HOST:PORT (proto)" line on a stdout pipe. stderr goes to an
    // (already unlinked) temp file that stderr_text() reads. Throws naming what
    // happened (timeout, exit status, unparsable line) with the stderr text.
    static ServerProcess start(const std::string& path, const StartOptions& options = {});
    // The same for a registered server: its own arguments come first.
    static ServerProcess start(const ServerInfo& server, StartOptions options = {});

    ServerProcess(ServerProcess&& other) noexcept;
    ServerProcess& operator=(ServerProcess&& other) noexcept;
    ServerProcess(const ServerProcess&) = delete;
    ServerProcess& operator=(const ServerProcess&) = delete;
    ~ServerProcess();

    // The server's own pid. Under a wrapper (strace) this is the traced child,
    // not the wrapper we forked.
    pid_t pid() const { return server_pid_; }
    uint16_t port() const { return port_; }
    std::string proto() const { return proto_; }
    std::string listening_line() const { return listening_line_; }

    // SIGTERM to the server, then wait for it (and for the wrapper). Returns
    // the exit code, 128+signal if a signal killed it, or -1 if it had not
    // exited within `timeout` (it is then SIGKILLed and reaped).
    int stop(milliseconds timeout = std::chrono::seconds(5));

    // The CPU time (user + system, every thread) the process used, in
    // seconds, from wait4 when stop() reaped it; -1 until then. Under a
    // wrapper it is the wrapper's, which includes the server it reaped.
    double cpu_seconds() const { return cpu_seconds_; }

    bool running() const;
    std::string stderr_text() const;

    // From /proc/<pid>/status (VmRSS, VmHWM) and /proc/<pid>/fd. -1 if the
    // process is gone.
    long rss_kib() const;
    // VmHWM: the kernel updates it lazily, so it is only guaranteed to be
    // at least VmRSS within one read, not against an earlier rss_kib().
    long peak_rss_kib() const;
    int fd_count() const;

  private:
    ServerProcess() = default;
    void kill_and_reap() noexcept;

    pid_t child_pid_ = -1;  // what we forked: the server, or the wrapper
    pid_t server_pid_ = -1; // the server itself
    int stdout_fd_ = -1;    // read end of the server's stdout pipe
    int stderr_fd_ = -1;    // the unlinked temp file the server's stderr goes to
    bool reaped_ = false;
    int exit_code_ = -1;
    double cpu_seconds_ = -1;
    uint16_t port_ = 0;
    std::string proto_, listening_line_;
};

// Runs a program to completion (no "listening on" expected), capturing stdout
// and stderr. For the command-line tests: --help, bad arguments, bind errors.
struct RunResult {
    int exit_code = -1; // as ServerProcess::stop(): 128+signal if killed, -1 on timeout
    std::string out, err;
};
RunResult run_program(const std::vector<std::string>& argv,
                      milliseconds timeout = std::chrono::seconds(10));

// A blocking-style TCP client built on a non-blocking socket, so every wait
// is a poll() with a deadline. Sockets are close-on-exec: a server started
// later must not inherit (and count) the test's own descriptors.
// Socket buffer sizes set before connect (0 leaves the kernel default). Small
// buffers on a client that never reads make the server's own output buffer
// fill after a few KiB of kernel buffering instead of megabytes.
struct TcpOptions {
    int rcvbuf = 0; // SO_RCVBUF
    int sndbuf = 0; // SO_SNDBUF
    int maxseg = 0; // TCP_MAXSEG: the MSS we announce, which also sizes the server's send buffer
};

class TcpClient {
  public:
    explicit TcpClient(uint16_t port, milliseconds connect_timeout = std::chrono::seconds(5),
                       TcpOptions options = {});
    TcpClient(TcpClient&& other) noexcept;
    TcpClient& operator=(TcpClient&& other) noexcept;
    TcpClient(const TcpClient&) = delete;
    TcpClient& operator=(const TcpClient&) = delete;
    ~TcpClient();

    void send_all(std::string_view data, milliseconds timeout = std::chrono::seconds(10));
    // Sends what the kernel takes right now without waiting; returns the count
    // (0 when the send buffer is full).
    size_t send_some(std::string_view data);
    std::string recv_exact(size_t n, milliseconds timeout);
    // Everything up to the peer's FIN; throws on timeout or reset.
    std::string recv_until_eof(milliseconds timeout);
    // Reads what is there right now without waiting; "" if nothing. Sets
    // `eof` when the peer has closed.
    std::string recv_some(bool& eof);
    void shutdown_write();
    // SO_LINGER {1, 0} then close: the kernel sends RST instead of FIN and
    // throws away anything unsent or unread.
    void reset_abruptly();
    void close();
    int fd() const { return fd_; }

  private:
    int fd_ = -1;
};

class UdpClient {
  public:
    explicit UdpClient(uint16_t port);
    UdpClient(UdpClient&& other) noexcept;
    UdpClient& operator=(UdpClient&& other) noexcept;
    UdpClient(const UdpClient&) = delete;
    UdpClient& operator=(const UdpClient&) = delete;
    ~UdpClient();

    void send(std::string_view datagram);
    // The next datagram, or nullopt if none arrives within `timeout`. Reads
    // with MSG_TRUNC so a datagram larger than our buffer is noticed (throws).
    std::optional<std::string> recv(milliseconds timeout);
    int fd() const { return fd_; }

  private:
    int fd_ = -1;
};

// Availability of something a test needs; `reason` is the skip message.
struct Availability {
    bool ok = false;
    std::string reason;
};

// ok when io_uring works in this process (io_uring_setup succeeds); otherwise
// the reason: a kernel without it, kernel.io_uring_disabled, a seccomp filter.
// IOLADDER_NO_URING=1 makes it report "unavailable", to check the skips.
Availability io_uring_available();

// What a registered server needs from the machine. A server whose name
// contains "uring" needs io_uring; the others need nothing. Every suite, the
// tour and the bench skip a server that is not available, with this reason.
Availability server_available(const ServerInfo& server);

// ok when this system has Linux's /proc/<pid>/fd, where a server's descriptor
// count and memory (rss_kib(), fd_count()) are read; macOS and FreeBSD (chapter
// 04's native builds) usually do not.
Availability proc_available();

// Raises the soft RLIMIT_NOFILE toward `want` (never above the hard limit)
// and returns the soft limit in force afterwards.
rlim_t raise_fd_limit(rlim_t want);

// ok if the soft RLIMIT_NOFILE could be raised to at least `need`; otherwise
// the reason names both limits (for a skip).
Availability fd_limit_at_least(rlim_t need);

// Deterministic bytes for a stream or datagram: a counter-based pattern seeded
// by `seed`, so a byte at the wrong offset or from another client is
// detected (no two 8-byte blocks in one stream repeat).
std::string pattern_bytes(uint64_t seed, size_t size);

// The offset of the first byte where `got` differs from `want`, in words, for
// failure messages ("first difference at byte 65536 of 1048576").
std::string describe_mismatch(std::string_view want, std::string_view got);

// Polls `condition` every few milliseconds until it is true or `timeout`
// passes; returns its last value.
template <typename F>
bool wait_until(F condition, milliseconds timeout);

// A temporary file name (not created) under $TMPDIR or /tmp, unique per call.
std::string temp_path(const std::string& stem);

// True when this test program was built with AddressSanitizer (the servers
// are built with the same flags), so memory figures include its overhead.
bool built_with_asan();
// The same for ThreadSanitizer, whose shadow memory multiplies RSS (~7x here).
bool built_with_tsan();

} // namespace ioladder::test

template <typename F>
bool ioladder::test::wait_until(F condition, milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (condition()) return true;
        if (std::chrono::steady_clock::now() >= deadline) return condition();
        std::this_thread::sleep_for(milliseconds(5));
    }
}
