// socket_setup.hpp: what every echo server does before its event loop, the
// same in every chapter: the standard options, the bound socket, the
// "listening on HOST:PORT (proto)" line the tests read, accept4().
//
// Descriptors are made non-blocking and close-on-exec when they are created
// (SOCK_NONBLOCK | SOCK_CLOEXEC), never with fcntl() afterwards: each fcntl
// would be one more line for a learner to skip in a trace.
#pragma once

#include "log.hpp"
#include "options.hpp"
#include "posix_compat.hpp" // macOS and FreeBSD (chapter 04): what Linux has and they lack

#include <arpa/inet.h>
#include <cstdint>
#include <cstdio>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

namespace ioladder {

struct Options {
    std::string host = "127.0.0.1";
    uint16_t port = 2000;
    bool verbose = false;
};

// The standard echo-server options (--host, --port, -v, --help) plus any a
// program adds in `extra`. Same rules as parse_args(): exit 0 on --help,
// usage and exit 2 on anything wrong.
inline Options parse_options(int argc, char** argv, const char* summary,
                             std::vector<Option> extra = {}) {
    Options opt;
    long port = opt.port;
    std::vector<Option> table = {
        Option::Text("--host", "ADDR", &opt.host,
                     "numeric IPv4 or IPv6 address to bind (default 127.0.0.1)"),
        Option::Number("--port", "N", &port, 0, 65535,
                       "port to bind, 0 picks a free one (default 2000)"),
        Option::Flag("--verbose", &opt.verbose, "log every event on stderr", "-v"),
    };
    table.insert(table.end(), extra.begin(), extra.end());
    parse_args(argc, argv, summary, table);
    in6_addr any;
    if (inet_pton(AF_INET, opt.host.c_str(), &any) != 1 &&
        inet_pton(AF_INET6, opt.host.c_str(), &any) != 1) {
        warn("--host: not a numeric IPv4 or IPv6 address: '%s'", opt.host.c_str());
        print_usage(stderr, summary, table);
        std::exit(2);
    }
    opt.port = static_cast<uint16_t>(port);
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

// send() flags for sockets: never raise SIGPIPE on a vanished peer (we also
// ignore SIGPIPE; macOS has no MSG_NOSIGNAL, so there the ignore does it).
#ifdef MSG_NOSIGNAL
inline constexpr int kSendFlags = MSG_NOSIGNAL;
#else
inline constexpr int kSendFlags = 0;
#endif

// accept() that returns a non-blocking, close-on-exec socket in one call.
inline int accept_nonblocking(int listener, sockaddr_storage* peer) {
    socklen_t len = sizeof *peer;
    return accept4(listener, reinterpret_cast<sockaddr*>(peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
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
        errno = EINVAL; // parse_options() has checked it already
        die(("--host " + opt.host).c_str());
    }
    int fd = socket(ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
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

} // namespace ioladder
