// support.hpp: small socket helpers for the exercise tests. Every wait has a
// time limit, so an unfinished exercise fails an assertion instead of hanging.
// A call into the learner's code that could loop or block forever is
// announced with STEP("..."), so a test that does hang says where.
#pragma once

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdexcept>
#include <string>
#include <sys/socket.h>
#include <unistd.h>
#include <utility>

namespace ioladder::test {

// Prints "step: <what>" to stderr at once, unbuffered, before the step is
// taken. CTest shows a test's output when it times out, so the last line
// printed names the step that never finished.
inline void step(const std::string& what) {
    std::string line = "step: " + what + "\n";
    [[maybe_unused]] ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
}
#define STEP(what) ::ioladder::test::step(what)

// A descriptor that closes itself.
class Fd {
  public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() { reset(); }
    Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    Fd& operator=(Fd&& o) noexcept {
        if (this != &o) {
            reset();
            fd_ = std::exchange(o.fd_, -1);
        }
        return *this;
    }
    int get() const { return fd_; }
    // Gives the descriptor up without closing it (someone else closed it).
    int release() { return std::exchange(fd_, -1); }
    void reset() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

  private:
    int fd_ = -1;
};

[[noreturn]] inline void fail_errno(const std::string& what) {
    throw std::runtime_error(what + ": " + std::strerror(errno));
}

// The descriptor number the next open()/socket()/accept() will get.
inline int next_fd() {
    int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail_errno("open /dev/null");
    ::close(fd);
    return fd;
}

// Open descriptors of this process, from /proc/self/fd.
inline int open_fd_count() {
    DIR* d = ::opendir("/proc/self/fd");
    if (!d) fail_errno("opendir /proc/self/fd");
    int n = 0;
    while (dirent* e = ::readdir(d))
        if (e->d_name[0] != '.') ++n;
    ::closedir(d);
    return n - 1; // the directory stream's own descriptor
}

inline bool is_open(int fd) {
    return ::fcntl(fd, F_GETFD) != -1 || errno != EBADF;
}

// Waits up to `ms` milliseconds for `events` on fd; returns the revents (0: timed out).
inline short wait_for(int fd, short events, int ms = 2000) {
    pollfd p{fd, events, 0};
    int n;
    do {
        n = ::poll(&p, 1, ms);
    } while (n < 0 && errno == EINTR);
    if (n < 0) fail_errno("poll");
    return n == 0 ? 0 : p.revents;
}

inline sockaddr_in loopback(uint16_t port = 0) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

inline sockaddr_in local_address(int fd) {
    sockaddr_in a{};
    socklen_t len = sizeof a;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) < 0) fail_errno("getsockname");
    return a;
}

// A non-blocking TCP listener on 127.0.0.1 with a free port.
inline Fd tcp_listener() {
    Fd l(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (l.get() < 0) fail_errno("socket");
    sockaddr_in a = loopback();
    if (::bind(l.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) < 0) fail_errno("bind");
    if (::listen(l.get(), 128) < 0) fail_errno("listen");
    return l;
}

// A blocking client connected to `listener` (the connection waits in the
// backlog until someone accepts it).
inline Fd tcp_connect(int listener) {
    Fd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (c.get() < 0) fail_errno("socket");
    sockaddr_in a = local_address(listener);
    if (::connect(c.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) < 0) fail_errno("connect");
    return c;
}

// A connected, non-blocking AF_UNIX stream pair whose send buffer is as
// small as the kernel allows, so send() soon takes only part of its input.
inline std::pair<Fd, Fd> small_socketpair() {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        fail_errno("socketpair");
    int small = 4096;
    for (int fd : sv)
        if (::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small) < 0)
            fail_errno("setsockopt SO_SNDBUF");
    return {Fd(sv[0]), Fd(sv[1])};
}

// A non-blocking UDP socket bound to 127.0.0.1 with a free port.
inline Fd udp_socket() {
    Fd s(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (s.get() < 0) fail_errno("socket");
    sockaddr_in a = loopback();
    if (::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) < 0) fail_errno("bind");
    return s;
}

using Clock = std::chrono::steady_clock;

} // namespace ioladder::test
