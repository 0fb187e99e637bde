// select_cost.cpp: what one select() call costs depends on how many
// descriptors are in the sets, not on how high nfds is.
//
// What it does
//   Opens one loopback TCP connection and copies the server's end of it with
//   dup2() onto the descriptors 1023, 1022, ... down to 1024 - N (N = --fds,
//   default 1000). Nothing is ever sent, so no descriptor is readable. Then
//   it times select() and poll() with a zero timeout (ask, never sleep) and
//   prints the median time per call over 5 rounds:
//
//     select: 1 fd in the read set, a low one (nfds about 6)
//     select: 1 fd in the read set, fd 1023 (nfds 1024)
//     select: N fds in the read set (nfds 1024)
//     poll:   1 entry, and N entries
//
//   The kernel copies the sets only up to nfds, skips the sets passed as
//   NULL, and skips every 64-bit word of the sets that has no bit set
//   (fs/select.c, core_sys_select() and do_select()). What costs is each
//   descriptor that *is* set: one poll of its file per call. poll() pays the
//   same per entry.
//
// Run it
//   ./build/default/chapters/01-select/select_cost            (--fds N, --calls N)
//
// Left out on purpose: a blocking wait. With a timeout the kernel also adds
// and removes one wait-queue entry per watched descriptor, on top of what
// is measured here.
#include "options.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cstdio>
#include <ctime>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

using namespace ioladder;

namespace {

constexpr int kRounds = 5;

double now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

// One accepted loopback connection; returns the server's end. The client's
// end is returned through `client` and must stay open (a closed peer would
// make the socket readable).
int loopback_connection(int* client) {
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listener < 0) die("socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) die("bind");
    if (listen(listener, 1) < 0) die("listen");
    if (getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) < 0) die("getsockname");
    *client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (*client < 0) die("socket");
    if (connect(*client, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) die("connect");
    int server = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (server < 0) die("accept4");
    close(listener);
    return server;
}

// [snippet: time-select]
// Mean nanoseconds per select() call on a copy of `set` (select() overwrites
// its sets, so each call gets a fresh copy), write and except sets NULL.
double select_ns(const fd_set& set, int nfds, long calls) {
    double start = now_ns();
    for (long i = 0; i < calls; ++i) {
        fd_set readable = set;
        timeval zero{0, 0};
        if (select(nfds, &readable, nullptr, nullptr, &zero) != 0) die("select (expected 0 ready)");
    }
    return (now_ns() - start) / static_cast<double>(calls);
}
// [/snippet]

double poll_ns(std::vector<pollfd>& pfds, long calls) {
    double start = now_ns();
    for (long i = 0; i < calls; ++i)
        if (poll(pfds.data(), pfds.size(), 0) != 0) die("poll (expected 0 ready)");
    return (now_ns() - start) / static_cast<double>(calls);
}

struct Case {
    const char* call;
    std::string watched;
    int nfds;
    std::vector<double> rounds;
};

} // namespace

int main(int argc, char** argv) {
    long fds = 1000, calls = 20000;
    parse_args(
        argc, argv, "Times select() and poll() with a zero timeout on 1 and on N idle sockets.",
        {Option::Number("--fds", "N", &fds, 2, 1000, "sockets in the big set (default 1000)"),
         Option::Number("--calls", "N", &calls, 1, 10'000'000,
                        "calls per round and case (default 20000)")});

    // Descriptors up to 1023 need a soft limit of at least 1024.
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) < 0) die("getrlimit");
    if (lim.rlim_cur < FD_SETSIZE) {
        lim.rlim_cur = std::min<rlim_t>(FD_SETSIZE, lim.rlim_max);
        if (setrlimit(RLIMIT_NOFILE, &lim) < 0) die("setrlimit RLIMIT_NOFILE");
    }

    int client = -1;
    int low = loopback_connection(&client);
    const int high = FD_SETSIZE - 1, first = FD_SETSIZE - static_cast<int>(fds);
    if (first <= std::max(low, client))
        die("--fds too large: the copies would overwrite our own sockets");
    for (int fd = first; fd <= high; ++fd)
        if (dup2(low, fd) < 0) die("dup2 (raise ulimit -n to at least 1024)");

    fd_set one_low, one_high, many;
    FD_ZERO(&one_low);
    FD_ZERO(&one_high);
    FD_ZERO(&many);
    FD_SET(low, &one_low);
    FD_SET(high, &one_high);
    for (int fd = first; fd <= high; ++fd)
        FD_SET(fd, &many);
    std::vector<pollfd> poll_one{{high, POLLIN, 0}}, poll_many;
    for (int fd = first; fd <= high; ++fd)
        poll_many.push_back({fd, POLLIN, 0});

    const std::string range = "(fds " + std::to_string(first) + "-" + std::to_string(high) + ")";
    std::vector<Case> cases{
        {"select", "1 fd (fd " + std::to_string(low) + ")", low + 1, {}},
        {"select", "1 fd (fd " + std::to_string(high) + ")", high + 1, {}},
        {"select", std::to_string(fds) + " fds " + range, high + 1, {}},
        {"poll", "1 fd (fd " + std::to_string(high) + ")", 1, {}},
        {"poll", std::to_string(fds) + " fds " + range, static_cast<int>(fds), {}},
    };
    // Rounds are interleaved, so a slow moment on the machine costs every
    // case a little instead of one case a lot.
    for (int r = 0; r < kRounds; ++r) {
        cases[0].rounds.push_back(select_ns(one_low, cases[0].nfds, calls));
        cases[1].rounds.push_back(select_ns(one_high, cases[1].nfds, calls));
        cases[2].rounds.push_back(select_ns(many, cases[2].nfds, calls));
        cases[3].rounds.push_back(poll_ns(poll_one, calls));
        cases[4].rounds.push_back(poll_ns(poll_many, calls));
    }

    std::printf("%d rounds of %ld calls, timeout 0, nothing ready; median per call\n", kRounds,
                calls);
    std::printf("%-7s %-24s %5s %10s\n", "call", "watched", "nfds", "ns/call");
    for (Case& c : cases) {
        std::sort(c.rounds.begin(), c.rounds.end());
        std::printf("%-7s %-24s %5d %10.0f\n", c.call, c.watched.c_str(), c.nfds,
                    c.rounds[kRounds / 2]);
    }
    return 0;
}
