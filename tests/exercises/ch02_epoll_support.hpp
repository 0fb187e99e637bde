// ch02_epoll_support.hpp: epoll helpers for the chapter-02 exercise tests.
//
// Besides a wait that never sleeps, they read the kernel's interest list
// itself: /proc/self/fdinfo/<epfd> has one "tfd:" line per registered
// descriptor with its events and data (proc(5)). So a test can check what
// the kernel holds, not what the code under test says it did, and can tell
// whether an EPOLL_CTL_MOD happened by planting a marker in a registration's
// data: any MOD the code makes writes data.fd over it.
#pragma once

#include "support.hpp"

#include <cstdint>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <sys/epoll.h>
#include <vector>

namespace ioladder::test {

inline Fd new_epoll() {
    Fd ep(::epoll_create1(EPOLL_CLOEXEC));
    if (ep.get() < 0) fail_errno("epoll_create1");
    return ep;
}

// epoll_ctl that throws, for the test's own setup.
inline void ctl(int epfd, int op, int fd, uint32_t events, uint64_t data) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = data;
    if (::epoll_ctl(epfd, op, fd, &ev) < 0) fail_errno("epoll_ctl (test setup)");
}

// One epoll_wait() with timeout 0: what is ready right now.
inline std::vector<epoll_event> ready_now(int epfd) {
    epoll_event ev[512];
    int n;
    do {
        n = ::epoll_wait(epfd, ev, 512, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0) fail_errno("epoll_wait");
    return {ev, ev + n};
}

// The events reported for `fd` (matched by data.fd) in one wait; 0 if none.
inline uint32_t reported_for(int epfd, int fd) {
    uint32_t got = 0;
    for (const epoll_event& e : ready_now(epfd))
        if (e.data.fd == fd) got |= e.events;
    return got;
}

struct KernelEntry {
    uint32_t events = 0; // the registered mask, EPOLLET etc. included
    uint64_t data = 0;
};

// The kernel's interest list of epfd: target fd -> {events, data}.
inline std::map<int, KernelEntry> interest_list(int epfd) {
    std::ifstream in("/proc/self/fdinfo/" + std::to_string(epfd));
    if (!in) throw std::runtime_error("cannot read /proc/self/fdinfo/" + std::to_string(epfd));
    std::map<int, KernelEntry> out;
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("tfd:", 0) != 0) continue;
        // "tfd:        5 events:       19 data:                5  pos:0 ino:..."
        std::istringstream s(line);
        std::string tag;
        int fd = -1;
        KernelEntry e;
        s >> tag >> fd >> tag >> std::hex >> e.events >> tag >> e.data;
        out[fd] = e;
    }
    return out;
}

} // namespace ioladder::test
