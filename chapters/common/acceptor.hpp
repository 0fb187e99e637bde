// acceptor.hpp: accept4() with the failures a server must survive.
//
// Most accept errors leave the connection queued in the kernel's backlog:
//   EMFILE/ENFILE  out of descriptors. Keep one in reserve (SpareFd): give it
//                  up, accept the connection and close it at once, take the
//                  reserve back. The client sees its connection closed instead
//                  of hanging in the backlog, and we do not spin on it.
//   ENOBUFS/ENOMEM out of kernel memory, for now.
// Retrying those at once would spin (a level-triggered listener is reported
// again straight away), and giving up until the next edge would go deaf (an
// edge-triggered listener is not reported again for what is already queued).
// So the Acceptor backs off: for kBackoff it accepts nothing, and the server
// waits at most that long before it tries again (hyper and Tokio sleep
// briefly on such errors too). EINTR and ECONNABORTED (the client gave up
// before we got to it) are retried at once, and so are the network errors
// accept(2) lists as pending on the new socket; EAGAIN means the backlog is
// empty.
#pragma once

#include "log.hpp"
#include "socket_setup.hpp"

#include <chrono>
#include <fcntl.h>
#include <string>
#include <unistd.h>

namespace ioladder {

// Logs an event at most once a second, with how many it stands for: a flood
// of refused clients must not turn into a flood of log lines. What is still
// uncounted when it goes away is logged then.
class RateLimitedLog {
  public:
    explicit RateLimitedLog(const char* what) : what_(what) {}
    ~RateLimitedLog() {
        if (count_ > 0) report();
    }
    RateLimitedLog(const RateLimitedLog&) = delete;
    RateLimitedLog& operator=(const RateLimitedLog&) = delete;

    void count(const char* reason) {
        ++count_;
        reason_ = reason;
        if (std::chrono::steady_clock::now() - last_ >= std::chrono::seconds(1)) report();
    }

  private:
    void report() {
        warn("%s: %s (%ld since the last report)", what_, reason_, count_);
        last_ = std::chrono::steady_clock::now();
        count_ = 0;
    }
    const char* what_;
    const char* reason_ = "";
    long count_ = 0;
    std::chrono::steady_clock::time_point last_{};
};

// [snippet: spare-fd]
// One descriptor held in reserve, so that at EMFILE a connection can still be
// accepted and closed (closing it unread sends the client a FIN; a reset if it
// had already sent data that we never read, tcp(7)).
class SpareFd {
  public:
    SpareFd() { reserve(); }
    ~SpareFd() {
        if (fd_ >= 0) close(fd_);
    }
    SpareFd(const SpareFd&) = delete;
    SpareFd& operator=(const SpareFd&) = delete;

    // Sheds one queued connection. False when it could not: the reserve is
    // lost (another thread or process took the slot), or the backlog is empty.
    bool shed_one(int listener) {
        if (fd_ < 0 && !reserve()) return false; // nothing to give up
        close(fd_);
        fd_ = -1;
        int c = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
        if (c >= 0) close(c);
        bool reserved = reserve();
        return c >= 0 && reserved;
    }
    // [/snippet]

  private:
    bool reserve() {
        fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
        return fd_ >= 0;
    }
    int fd_ = -1;
};

class Acceptor {
  public:
    static constexpr std::chrono::milliseconds kBackoff{10};

    explicit Acceptor(int listener) : listener_(listener) {}

    // [snippet: accept-one]
    // One new connection (non-blocking, close-on-exec), or -1: the backlog is
    // empty, or a failure left connections queued and we are backing off.
    int accept_one(std::string* name) {
        if (backing_off()) return -1;
        for (;;) {
            sockaddr_storage peer{};
            int fd = accept_nonblocking(listener_, &peer);
            if (fd >= 0) {
                *name = address_text(peer);
                return fd;
            }
            switch (errno) {
            case EAGAIN:
#if EAGAIN != EWOULDBLOCK
            case EWOULDBLOCK:
#endif
                return -1; // backlog empty
            case EINTR:
            case ECONNABORTED: // the client gave up before we got to it
            // Network errors already pending on the new connection: accept(2)
            // says to treat them like EAGAIN and try again.
            case ENETDOWN:
            case EPROTO:
            case ENOPROTOOPT:
            case EHOSTDOWN:
            case ENONET:
            case EHOSTUNREACH:
            case EOPNOTSUPP:
            case ENETUNREACH:
                continue;
            case EMFILE:
            case ENFILE:
                if (spare_.shed_one(listener_)) {
                    refused_.count("out of file descriptors, refused a connection");
                    continue; // the next one may still fit
                }
                [[fallthrough]]; // the reserve is lost: wait for descriptors to free up
            default:             // ENOBUFS, ENOMEM, EPERM (firewall), ...
                failed_.count(std::strerror(errno));
                retry_at_ = std::chrono::steady_clock::now() + kBackoff;
                return -1;
            }
        }
    }
    // [/snippet]

    // Milliseconds until accept_one() tries again; 0 when it is not backing off.
    // A server waits at most this long (its wait timeout) while it is backing off.
    int backoff_ms() const {
        auto left = retry_at_ - std::chrono::steady_clock::now();
        if (left <= std::chrono::steady_clock::duration::zero()) return 0;
        return static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(left).count());
    }
    bool backing_off() const {
        return backoff_ms() > 0;
    }

  private:
    int listener_;
    SpareFd spare_;
    std::chrono::steady_clock::time_point retry_at_{};
    RateLimitedLog refused_{"accept"};
    RateLimitedLog failed_{"accept failed, retrying shortly"};
};

} // namespace ioladder
