// faults.cpp: see faults.hpp. Linux only (raw system calls).
//
// Every definition here replaces libc's for the whole test executable, so
// each one must behave exactly like the real call when nothing is injected:
// it forwards to the system call with syscall(2), which sets errno the same
// way. Counters are atomic (the waker and oneshot tests call from several
// threads); the injection queues take a lock only while something is queued,
// so a call from a signal handler with nothing queued never blocks.
// Some distributions build with _FORTIFY_SOURCE by default, which turns
// read(), recv() and poll() into inline wrappers that cannot be replaced.
#undef _FORTIFY_SOURCE
#include "faults.hpp"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <ctime>
#include <deque>
#include <mutex>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace ioladder::test {
namespace {

constexpr int kMaxErrno = 256;
constexpr long kSigsetBytes = _NSIG / 8; // the kernel's sigset_t, not glibc's

struct Counter {
    std::atomic<int> calls{0};
    std::atomic<int> failed[kMaxErrno] = {};
    std::atomic<int> queued{0}; // errors.size(), readable without the lock
    std::mutex lock;
    std::deque<int> errors;
};

Counter g_counters[static_cast<int>(Call::count_)];
std::atomic<int> g_target{-1};
std::atomic<int> g_partial_sends{0};
std::atomic<long> g_short_send{-1}; // -1: none queued
std::atomic<int> g_raise_before_wait{0};
std::atomic<int> g_waits{0};

Counter& counter(Call call) {
    return g_counters[static_cast<int>(call)];
}

bool watched(int fd) {
    int t = g_target.load();
    return t < 0 || t == fd;
}

// Counts a call on fd; returns the errno to fail it with, or 0 to let it through.
int next_fault(Call call, int fd) {
    if (!watched(fd)) return 0;
    Counter& c = counter(call);
    c.calls.fetch_add(1);
    if (c.queued.load() == 0) return 0;
    std::lock_guard guard(c.lock);
    if (c.errors.empty()) return 0;
    int e = c.errors.front();
    c.errors.pop_front();
    c.queued.store(static_cast<int>(c.errors.size()));
    if (e != 0) c.failed[e % kMaxErrno].fetch_add(1);
    return e;
}

// Records how a real call on fd ended, and passes its result on.
template <typename R>
R record(Call call, int fd, R result) {
    if (result < 0 && watched(fd)) {
        int e = errno;
        counter(call).failed[e % kMaxErrno].fetch_add(1);
        errno = e;
    }
    return result;
}

// The length a send may pass to the kernel: shortened once if a test asked.
size_t send_length(int fd, size_t n) {
    if (!watched(fd)) return n;
    long limit = g_short_send.exchange(-1);
    if (limit >= 0 && static_cast<size_t>(limit) < n) return static_cast<size_t>(limit);
    return n;
}

ssize_t finish_send(int fd, size_t asked, long r) {
    if (r >= 0 && static_cast<size_t>(r) < asked && watched(fd)) g_partial_sends.fetch_add(1);
    return record(Call::send, fd, static_cast<ssize_t>(r));
}

void before_wait() {
    g_waits.fetch_add(1);
    if (int sig = g_raise_before_wait.exchange(0)) raise(sig);
}

int fail_with(int e) {
    errno = e;
    return -1;
}

} // namespace

void target(int fd) {
    g_target.store(fd);
    for (Counter& c : g_counters) {
        c.calls.store(0);
        for (auto& f : c.failed)
            f.store(0);
    }
    g_partial_sends.store(0);
    g_waits.store(0);
}

void inject_errors(Call call, std::initializer_list<int> errnos) {
    Counter& c = counter(call);
    std::lock_guard guard(c.lock);
    c.errors.insert(c.errors.end(), errnos);
    c.queued.store(static_cast<int>(c.errors.size()));
}

void shorten_next_send(std::size_t max_bytes) {
    g_short_send.store(static_cast<long>(max_bytes));
}

int calls(Call call) {
    return counter(call).calls.load();
}

int failures(Call call, int error) {
    return counter(call).failed[error % kMaxErrno].load();
}

int partial_sends() {
    return g_partial_sends.load();
}

void raise_before_next_wait(int sig) {
    g_raise_before_wait.store(sig);
}

int waits() {
    return g_waits.load();
}

void reset_faults() {
    for (Counter& c : g_counters) {
        std::lock_guard guard(c.lock);
        c.errors.clear();
        c.queued.store(0);
        c.calls.store(0);
        for (auto& f : c.failed)
            f.store(0);
    }
    g_target.store(-1);
    g_partial_sends.store(0);
    g_short_send.store(-1);
    g_raise_before_wait.store(0);
    g_waits.store(0);
}

} // namespace ioladder::test

using ioladder::test::Call;
namespace ft = ioladder::test;

// ---- send, sendto, sendmsg, write: Call::send ----

extern "C" ssize_t sendto(int fd, const void* buf, size_t n, int flags, const sockaddr* to,
                          socklen_t to_len) {
    if (int e = ft::next_fault(Call::send, fd)) return ft::fail_with(e);
    size_t len = ft::send_length(fd, n);
    return ft::finish_send(fd, n, syscall(SYS_sendto, fd, buf, len, flags, to, to_len));
}

extern "C" ssize_t send(int fd, const void* buf, size_t n, int flags) {
    return sendto(fd, buf, n, flags, nullptr, 0);
}

extern "C" ssize_t write(int fd, const void* buf, size_t n) {
    if (int e = ft::next_fault(Call::send, fd)) return ft::fail_with(e);
    size_t len = ft::send_length(fd, n);
    return ft::finish_send(fd, n, syscall(SYS_write, fd, buf, len));
}

extern "C" ssize_t sendmsg(int fd, const msghdr* msg, int flags) {
    if (int e = ft::next_fault(Call::send, fd)) return ft::fail_with(e);
    size_t total = 0;
    for (size_t i = 0; i < msg->msg_iovlen; ++i)
        total += msg->msg_iov[i].iov_len;
    size_t len = ft::send_length(fd, total);
    if (len == total) return ft::finish_send(fd, total, syscall(SYS_sendmsg, fd, msg, flags));
    // Shortened: send only the first `len` bytes of the iovecs.
    iovec cut[64];
    msghdr m = *msg;
    size_t k = 0, left = len;
    for (; k < msg->msg_iovlen && k < 64 && left > 0; ++k) {
        cut[k] = msg->msg_iov[k];
        if (cut[k].iov_len > left) cut[k].iov_len = left;
        left -= cut[k].iov_len;
    }
    m.msg_iov = cut;
    m.msg_iovlen = k;
    return ft::finish_send(fd, total, syscall(SYS_sendmsg, fd, &m, flags));
}

// ---- recv, recvfrom, recvmsg, read: Call::recv ----

extern "C" ssize_t recvfrom(int fd, void* buf, size_t n, int flags, sockaddr* from,
                            socklen_t* from_len) {
    if (int e = ft::next_fault(Call::recv, fd)) return ft::fail_with(e);
    return ft::record(
        Call::recv, fd,
        static_cast<ssize_t>(syscall(SYS_recvfrom, fd, buf, n, flags, from, from_len)));
}

extern "C" ssize_t recv(int fd, void* buf, size_t n, int flags) {
    return recvfrom(fd, buf, n, flags, nullptr, nullptr);
}

extern "C" ssize_t recvmsg(int fd, msghdr* msg, int flags) {
    if (int e = ft::next_fault(Call::recv, fd)) return ft::fail_with(e);
    return ft::record(Call::recv, fd, static_cast<ssize_t>(syscall(SYS_recvmsg, fd, msg, flags)));
}

extern "C" ssize_t read(int fd, void* buf, size_t n) {
    if (int e = ft::next_fault(Call::recv, fd)) return ft::fail_with(e);
    return ft::record(Call::recv, fd, static_cast<ssize_t>(syscall(SYS_read, fd, buf, n)));
}

// ---- accept, accept4: Call::accept ----

extern "C" int accept4(int fd, sockaddr* addr, socklen_t* len, int flags) {
    if (int e = ft::next_fault(Call::accept, fd)) return ft::fail_with(e);
    return ft::record(Call::accept, fd,
                      static_cast<int>(syscall(SYS_accept4, fd, addr, len, flags)));
}

extern "C" int accept(int fd, sockaddr* addr, socklen_t* len) {
    return accept4(fd, addr, len, 0);
}

// ---- epoll_ctl: Call::epoll_ctl ----

extern "C" int epoll_ctl(int epfd, int op, int fd, epoll_event* ev) {
    if (int e = ft::next_fault(Call::epoll_ctl, epfd)) return ft::fail_with(e);
    return ft::record(Call::epoll_ctl, epfd,
                      static_cast<int>(syscall(SYS_epoll_ctl, epfd, op, fd, ev)));
}

// ---- waits: counted by waits(), and the signal of raise_before_next_wait ----

extern "C" int epoll_pwait(int epfd, epoll_event* events, int max, int timeout,
                           const sigset_t* mask) {
    ft::before_wait();
    if (int e = ft::next_fault(Call::epoll_wait, epfd)) return ft::fail_with(e);
    return ft::record(Call::epoll_wait, epfd,
                      static_cast<int>(syscall(SYS_epoll_pwait, epfd, events, max, timeout, mask,
                                               mask ? ft::kSigsetBytes : 0)));
}

extern "C" int epoll_wait(int epfd, epoll_event* events, int max, int timeout) {
    return epoll_pwait(epfd, events, max, timeout, nullptr);
}

extern "C" int ppoll(pollfd* fds, nfds_t n, const timespec* timeout, const sigset_t* mask) {
    ft::before_wait();
    timespec copy{}; // the kernel writes the time left into it; ppoll's caller keeps theirs
    if (timeout) copy = *timeout;
    return static_cast<int>(
        syscall(SYS_ppoll, fds, n, timeout ? &copy : nullptr, mask, mask ? ft::kSigsetBytes : 0));
}

extern "C" int poll(pollfd* fds, nfds_t n, int timeout_ms) {
    if (timeout_ms < 0) return ppoll(fds, n, nullptr, nullptr);
    timespec ts{timeout_ms / 1000, (timeout_ms % 1000) * 1000000L};
    return ppoll(fds, n, &ts, nullptr);
}

extern "C" int pselect(int n, fd_set* r, fd_set* w, fd_set* x, const timespec* timeout,
                       const sigset_t* mask) {
    ft::before_wait();
    timespec copy{};
    if (timeout) copy = *timeout;
    struct {
        const sigset_t* set;
        size_t size;
    } sig{mask, static_cast<size_t>(ft::kSigsetBytes)};
    return static_cast<int>(
        syscall(SYS_pselect6, n, r, w, x, timeout ? &copy : nullptr, mask ? &sig : nullptr));
}

// select() on Linux writes the time not slept back into *timeout.
extern "C" int select(int n, fd_set* r, fd_set* w, fd_set* x, timeval* timeout) {
    ft::before_wait();
    timespec ts{};
    if (timeout) ts = {timeout->tv_sec, timeout->tv_usec * 1000L};
    int rc = static_cast<int>(syscall(SYS_pselect6, n, r, w, x, timeout ? &ts : nullptr, nullptr));
    int e = errno;
    if (timeout) *timeout = {ts.tv_sec, static_cast<suseconds_t>(ts.tv_nsec / 1000)};
    errno = e;
    return rc;
}
