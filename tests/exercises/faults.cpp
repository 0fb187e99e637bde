// faults.cpp: see faults.hpp. Linux only (raw syscall numbers).
#include "faults.hpp"

#include <cerrno>
#include <deque>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace ioladder::test {
namespace {

struct Counter {
    std::deque<int> errors;
    int calls = 0;
};

Counter g_counters[3];
int g_partial_sends = 0;

Counter& counter(Call call) {
    return g_counters[static_cast<int>(call)];
}

// Counts a call; returns the errno to fail it with, or 0 to let it through.
int next_fault(Call call) {
    Counter& c = counter(call);
    ++c.calls;
    if (c.errors.empty()) return 0;
    int e = c.errors.front();
    c.errors.pop_front();
    return e;
}

int do_accept4(int fd, sockaddr* addr, socklen_t* len, int flags) {
    if (int e = next_fault(Call::accept)) {
        errno = e;
        return -1;
    }
    return static_cast<int>(syscall(SYS_accept4, fd, addr, len, flags));
}

} // namespace

void inject_errors(Call call, std::initializer_list<int> errnos) {
    counter(call).errors.insert(counter(call).errors.end(), errnos);
}

int calls(Call call) {
    return counter(call).calls;
}

int partial_sends() {
    return g_partial_sends;
}

void reset_faults() {
    for (Counter& c : g_counters)
        c = Counter{};
    g_partial_sends = 0;
}

} // namespace ioladder::test

using ioladder::test::Call;

extern "C" ssize_t send(int fd, const void* buf, size_t n, int flags) {
    if (int e = ioladder::test::next_fault(Call::send)) {
        errno = e;
        return -1;
    }
    long r = syscall(SYS_sendto, fd, buf, n, flags, nullptr, 0);
    if (r >= 0 && static_cast<size_t>(r) < n) ++ioladder::test::g_partial_sends;
    return r;
}

extern "C" int accept(int fd, sockaddr* addr, socklen_t* len) {
    return ioladder::test::do_accept4(fd, addr, len, 0);
}

extern "C" int accept4(int fd, sockaddr* addr, socklen_t* len, int flags) {
    return ioladder::test::do_accept4(fd, addr, len, flags);
}

extern "C" ssize_t recvmsg(int fd, msghdr* msg, int flags) {
    if (int e = ioladder::test::next_fault(Call::recvmsg)) {
        errno = e;
        return -1;
    }
    return syscall(SYS_recvmsg, fd, msg, flags);
}
