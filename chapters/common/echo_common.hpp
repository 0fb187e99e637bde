// echo_common.hpp: the boring parts every echo program shares.
//
// Argument parsing, the "listening on HOST:PORT (proto)" line the tests read,
// error helpers that name the call and the errno text, the shutdown pipe
// (SIGINT/SIGTERM -> one byte on a pipe the event loop watches), and the
// spare descriptor that lets a server shed a connection when it runs out of
// descriptors. The event loop each chapter teaches never lives here: read the
// chapter's .cpp file and you see all of it.
#pragma once

#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <unistd.h>

namespace ioladder {

inline const char* g_program = "echo";
inline bool g_verbose = false;
inline const char* g_summary = "";

struct Options {
    std::string host = "127.0.0.1";
    uint16_t port = 2000;
    bool verbose = false;
};

// Every message on stderr starts with the program name, so a log line from a
// test run says which server wrote it.
[[gnu::format(printf, 1, 2)]] inline void warn(const char* fmt, ...) {
    std::va_list ap;
    va_start(ap, fmt);
    std::fprintf(stderr, "%s: ", g_program);
    std::vfprintf(stderr, fmt, ap);
    std::fputc('\n', stderr);
    va_end(ap);
}

// Per-event log, only with -v. Cheap when off: one branch.
#define IOLADDER_LOG(...)                                                                          \
    do {                                                                                           \
        if (::ioladder::g_verbose) ::ioladder::warn(__VA_ARGS__);                                  \
    } while (0)

// A failed call that the program cannot continue without: name what we were
// doing and the errno text, then exit 1.
[[noreturn]] inline void die(const char* what) {
    int e = errno;
    warn("%s: %s", what, std::strerror(e));
    std::exit(1);
}

inline void usage(FILE* out) {
    std::fprintf(out,
                 "usage: %s [--host ADDR] [--port N] [-v] [--help]\n"
                 "%s\n"
                 "  --host ADDR  numeric IPv4 or IPv6 address to bind (default 127.0.0.1)\n"
                 "  --port N     port to bind, 0 picks a free one (default 2000)\n"
                 "  -v           log every event on stderr\n"
                 "  --help       show this text\n",
                 g_program, g_summary);
}

[[noreturn]] inline void usage_error(const char* fmt, const char* arg) {
    std::fprintf(stderr, "%s: ", g_program);
    std::fprintf(stderr, fmt, arg);
    std::fputc('\n', stderr);
    usage(stderr);
    std::exit(2);
}

// Parses --host, --port, -v and --help (also --host=ADDR and --port=N).
// Bad arguments print what was wrong and the usage on stderr, exit 2.
inline Options parse_options(int argc, char** argv, const char* summary) {
    if (argc > 0 && argv[0]) {
        const char* slash = std::strrchr(argv[0], '/');
        g_program = slash ? slash + 1 : argv[0];
    }
    g_summary = summary;
    Options opt;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        std::string value;
        bool has_value = false;
        if (auto eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
            value = arg.substr(eq + 1);
            arg = arg.substr(0, eq);
            has_value = true;
        }
        auto take_value = [&]() -> std::string {
            if (has_value) return value;
            if (i + 1 >= argc) usage_error("%s needs a value", argv[i]);
            return argv[++i];
        };
        if (arg == "--help" || arg == "-h") {
            usage(stdout);
            std::exit(0);
        } else if (arg == "-v" || arg == "--verbose") {
            opt.verbose = true;
        } else if (arg == "--host") {
            opt.host = take_value();
        } else if (arg == "--port") {
            std::string v = take_value();
            char* end = nullptr;
            errno = 0;
            unsigned long p = std::strtoul(v.c_str(), &end, 10);
            if (v.empty() || *end != '\0' || errno != 0 || p > 65535 || v[0] == '-')
                usage_error("--port: not a port number (0-65535): '%s'", v.c_str());
            opt.port = static_cast<uint16_t>(p);
        } else {
            usage_error("unknown argument '%s'", argv[i]);
        }
    }
    g_verbose = opt.verbose;
    return opt;
}

// "127.0.0.1:5000" or "[::1]:5000". Formatted with snprintf: it cannot fail
// and it allocates once.
inline std::string address_text(const sockaddr_storage& ss) {
    char host[INET6_ADDRSTRLEN] = "?";
    char text[INET6_ADDRSTRLEN + 16] = "?";
    if (ss.ss_family == AF_INET) {
        auto* sin = reinterpret_cast<const sockaddr_in*>(&ss);
        inet_ntop(AF_INET, &sin->sin_addr, host, sizeof host);
        std::snprintf(text, sizeof text, "%s:%u", host, unsigned{ntohs(sin->sin_port)});
    } else if (ss.ss_family == AF_INET6) {
        auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&ss);
        inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof host);
        std::snprintf(text, sizeof text, "[%s]:%u", host, unsigned{ntohs(sin6->sin6_port)});
    }
    return text;
}

inline void set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) die("fcntl O_NONBLOCK");
}

inline void set_cloexec(int fd) {
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) die("fcntl FD_CLOEXEC");
}

// send() flags for sockets: never raise SIGPIPE on a vanished peer (we also
// ignore SIGPIPE; macOS has no MSG_NOSIGNAL, so there the ignore does it).
#ifdef MSG_NOSIGNAL
inline constexpr int kSendFlags = MSG_NOSIGNAL;
#else
inline constexpr int kSendFlags = 0;
#endif

// accept() that returns a non-blocking, close-on-exec socket: one system call
// with accept4 (Linux, BSD), two more with fcntl elsewhere.
inline int accept_nonblocking(int listener, sockaddr_storage* peer) {
    socklen_t len = sizeof *peer;
    auto* sa = reinterpret_cast<sockaddr*>(peer);
#if defined(__linux__) || defined(__FreeBSD__)
    return accept4(listener, sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
#else
    int fd = accept(listener, sa, &len);
    if (fd >= 0) {
        set_nonblocking(fd);
        set_cloexec(fd);
    }
    return fd;
#endif
}

// Creates a non-blocking, close-on-exec socket bound to --host/--port.
// type is SOCK_STREAM (then it also listens) or SOCK_DGRAM. A bind failure
// names the address and the errno text and exits 1.
inline int open_bound_socket(const Options& opt, int type) {
    sockaddr_storage ss{};
    socklen_t len = 0;
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    if (inet_pton(AF_INET, opt.host.c_str(), &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons(opt.port);
        len = sizeof *sin;
    } else if (inet_pton(AF_INET6, opt.host.c_str(), &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(opt.port);
        len = sizeof *sin6;
    } else {
        usage_error("--host: not a numeric IPv4 or IPv6 address: '%s'", opt.host.c_str());
    }
    int fd = socket(ss.ss_family, type, 0);
    if (fd < 0) die("socket");
    set_nonblocking(fd);
    set_cloexec(fd);
    if (type == SOCK_STREAM) {
        // Lets a restarted server bind while old connections sit in TIME_WAIT.
        int one = 1;
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
            die("setsockopt SO_REUSEADDR");
    }
    if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) < 0) {
        int e = errno;
        std::string where = "bind " + address_text(ss);
        errno = e;
        die(where.c_str());
    }
    if (type == SOCK_STREAM && listen(fd, SOMAXCONN) < 0) die("listen");
    return fd;
}

// Prints the one line the tests and the tour wait for, with the port the
// kernel actually gave us (--port 0), and flushes it.
inline void announce(int fd, const char* proto) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) < 0) die("getsockname");
    std::printf("listening on %s (%s)\n", address_text(ss).c_str(), proto);
    std::fflush(stdout);
}

// The self-pipe trick: SIGINT and SIGTERM write one byte to a pipe, and the
// event loop watches the read end like any socket. A signal handler may only
// call async-signal-safe functions; write(2) is one. SIGPIPE is ignored so a
// peer that vanished turns into EPIPE from send(), not a dead server.
// [snippet: self-pipe]
class ShutdownPipe {
  public:
    ShutdownPipe() {
        int fds[2];
        if (pipe(fds) < 0) die("pipe");
        for (int fd : fds) {
            set_nonblocking(fd);
            set_cloexec(fd);
        }
        read_fd_ = fds[0];
        s_write_fd = fds[1]; // published before the handler can run
        struct sigaction sa {};
        sa.sa_handler = &ShutdownPipe::on_signal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESTART;
        if (sigaction(SIGINT, &sa, nullptr) < 0 || sigaction(SIGTERM, &sa, nullptr) < 0)
            die("sigaction");
        std::signal(SIGPIPE, SIG_IGN);
    }
    ~ShutdownPipe() {
        std::signal(SIGINT, SIG_DFL);
        std::signal(SIGTERM, SIG_DFL);
        close(read_fd_);
        close(s_write_fd);
        s_write_fd = -1;
    }
    ShutdownPipe(const ShutdownPipe&) = delete;
    ShutdownPipe& operator=(const ShutdownPipe&) = delete;

    // The read end: readable once SIGINT or SIGTERM has arrived.
    int fd() const { return read_fd_; }

  private:
    static void on_signal(int) {
        int saved = errno; // the interrupted code may be about to read errno
        // EAGAIN (pipe full) is fine: a byte is already waiting.
        [[maybe_unused]] ssize_t n = write(s_write_fd, "x", 1);
        errno = saved;
    }
    int read_fd_ = -1;
    inline static volatile sig_atomic_t s_write_fd = -1;
};
// [/snippet]

// Accepting when the process is out of descriptors (EMFILE) fails but leaves
// the connection in the backlog, so a level-triggered loop would spin on the
// listening socket. Keep one descriptor in reserve: on EMFILE, give it up,
// accept the connection, close it at once (the client sees a reset instead of
// a hang), and take the reserve back.
class SpareFd {
  public:
    SpareFd() { fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC); }
    ~SpareFd() {
        if (fd_ >= 0) close(fd_);
    }
    SpareFd(const SpareFd&) = delete;
    SpareFd& operator=(const SpareFd&) = delete;

    // [snippet: spare-fd]
    void shed_one(int listener) {
        if (fd_ >= 0) close(fd_);
        int c = accept(listener, nullptr, nullptr);
        // Closing at once sends the client a FIN (or a reset if it already sent data).
        if (c >= 0) close(c);
        fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
        warn("out of file descriptors: refused a connection");
    }
    // [/snippet]

  private:
    int fd_ = -1;
};

} // namespace ioladder
