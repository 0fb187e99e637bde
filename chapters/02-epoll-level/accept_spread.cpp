// accept_spread.cpp: several threads accept on one port. How many of them
// wake up for each connection, and who gets it?
//
// What it does
//   Starts N threads (--threads, default 4), each with its own epoll instance,
//   accepting until EAGAIN whenever epoll_wait() reports its listener. Then
//   it connects C clients (--connections, default 1000) one at a time, each
//   once the previous one was accepted, so each connection is one wakeup:
//
//     shared      one listening socket, in every thread's epoll, EPOLLIN
//     exclusive   the same, registered with EPOLLIN | EPOLLEXCLUSIVE
//     reuseport   one listening socket per thread, all bound to one port
//                 with SO_REUSEPORT; each thread watches only its own
//
//   Per setup: connections accepted (twice, never), how often the threads
//   were woken (their voluntary context switches, /proc/self/task/TID/status:
//   a thread woken in epoll_wait() that finds nothing and sleeps again counts
//   too), epoll_wait() returns that accepted nothing, and what each thread
//   accepted. Exit 0 when every connection was accepted exactly once.
//
// Run it: ./build/default/chapters/02-epoll-level/accept_spread (--threads N, --connections N)
//
// Left out on purpose: serving the connections (each is closed at once), and
// bursts, where one wakeup accepts several connections and the counts blur.
#include "options.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <netinet/in.h>
#include <string>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace ioladder;
using namespace std::chrono_literals;

namespace {

enum class Setup { shared, exclusive, reuseport };

struct Worker {
    int listener = -1;           // the socket this thread accepts on
    std::atomic<pid_t> tid{0};   // set once the thread waits (-1: it failed before)
    long empty = 0;              // epoll_wait() returns that accepted nothing
    std::vector<uint16_t> peers; // the client port of every connection it accepted
    std::string error;           // a failed call: the thread stops, main reports it
    std::thread thread;
};

std::atomic<long> g_accepted{0};

sockaddr_in loopback(uint16_t port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return addr;
}

int listening_socket(uint16_t port, bool reuseport) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    int on = 1;
    // [snippet: reuseport]
    // Every socket of the group sets SO_REUSEPORT before bind(), the first one too.
    if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) < 0)
        die("setsockopt SO_REUSEPORT");
    // [/snippet]
    sockaddr_in addr = loopback(port);
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) die("bind");
    if (listen(fd, SOMAXCONN) < 0) die("listen");
    return fd;
}

uint16_t local_port(int fd) {
    sockaddr_in addr{};
    socklen_t len = sizeof addr;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) < 0) die("getsockname");
    return ntohs(addr.sin_port);
}

// How many times the thread has gone to sleep: each time it was then woken.
long voluntary_switches(pid_t tid) {
    std::ifstream status("/proc/self/task/" + std::to_string(tid) + "/status");
    const std::string key = "voluntary_ctxt_switches:";
    for (std::string line; std::getline(status, line);)
        if (line.rfind(key, 0) == 0) return std::stol(line.substr(key.size()));
    return 0;
}

void run_worker(Worker& w, uint32_t listen_events, int stop_fd) {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    auto fail = [&](const char* what) {
        w.error = std::string(what) + ": " + std::strerror(errno);
        if (w.tid == 0) w.tid = -1; // main waits for the thread to be ready, or to fail
        if (ep >= 0) close(ep);
    };
    if (ep < 0) return fail("epoll_create1");
    // [snippet: register]
    epoll_event ev{};
    ev.events = listen_events; // EPOLLIN, or EPOLLIN | EPOLLEXCLUSIVE (only with EPOLL_CTL_ADD)
    ev.data.fd = w.listener;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, w.listener, &ev) < 0) return fail("epoll_ctl ADD listener");
    // [/snippet]
    ev.events = EPOLLIN; // the stop signal wakes every thread
    ev.data.fd = stop_fd;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, stop_fd, &ev) < 0) return fail("epoll_ctl ADD eventfd");
    w.tid = gettid();
    for (;;) {
        epoll_event got[2];
        int n = epoll_wait(ep, got, 2, -1);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail("epoll_wait");
        if (got[0].data.fd == stop_fd || (n == 2 && got[1].data.fd == stop_fd)) break;
        int accepted = 0;
        for (;;) {
            sockaddr_in peer{};
            socklen_t len = sizeof peer;
            int fd = accept4(w.listener, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC);
            if (fd < 0 && (errno == EINTR || errno == ECONNABORTED)) continue;
            if (fd < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break; // none left (or taken)
            if (fd < 0) return fail("accept4");
            w.peers.push_back(ntohs(peer.sin_port));
            close(fd);
            ++accepted;
            g_accepted.fetch_add(1);
        }
        if (accepted == 0) ++w.empty;
    }
    close(ep);
}

// Runs one setup and prints its row. Returns true if every connection was
// accepted exactly once.
bool run(Setup setup, const char* name, int threads, long connections) {
    std::vector<std::unique_ptr<Worker>> workers;
    int shared = setup == Setup::reuseport ? -1 : listening_socket(0, false);
    uint16_t port = shared >= 0 ? local_port(shared) : 0;
    for (int i = 0; i < threads; ++i) {
        auto& w = *workers.emplace_back(std::make_unique<Worker>());
        w.listener = shared >= 0 ? shared : listening_socket(port, true);
        if (port == 0) port = local_port(w.listener);
    }
    int stop = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (stop < 0) die("eventfd");
    uint32_t events = EPOLLIN | (setup == Setup::exclusive ? EPOLLEXCLUSIVE : 0u);
    for (auto& w : workers)
        w->thread = std::thread(run_worker, std::ref(*w), events, stop);
    for (auto& w : workers)
        while (w->tid == 0)
            std::this_thread::sleep_for(1ms);
    std::this_thread::sleep_for(20ms); // let every thread reach epoll_wait()

    std::vector<long> before;
    for (auto& w : workers)
        before.push_back(voluntary_switches(w->tid));
    g_accepted = 0;
    std::vector<int> clients;
    std::map<uint16_t, int> times_accepted; // client port -> how often accepted
    sockaddr_in to = loopback(port);
    long late = 0; // connections not accepted within 2 s
    for (long i = 0; i < connections; ++i) {
        int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c < 0) die("socket (client)");
        if (connect(c, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0) die("connect");
        clients.push_back(c); // kept open, so no client port is reused in this setup
        times_accepted[local_port(c)] = 0;
        auto deadline = std::chrono::steady_clock::now() + 2s;
        while (g_accepted <= i - late && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(20us);
        if (g_accepted <= i - late) ++late;
    }
    std::this_thread::sleep_for(20ms); // a late accept still counts below
    long wakeups = 0, empty = 0, accepted = 0;
    for (std::size_t i = 0; i < workers.size(); ++i)
        wakeups += voluntary_switches(workers[i]->tid) - before[i];
    uint64_t one = 1;
    if (write(stop, &one, sizeof one) != sizeof one) die("write eventfd");
    bool ok = true;
    std::string per_thread;
    for (auto& w : workers) {
        w->thread.join();
        if (!w->error.empty()) {
            warn("a %s thread stopped: %s", name, w->error.c_str());
            ok = false;
        }
        empty += w->empty;
        accepted += static_cast<long>(w->peers.size());
        per_thread += ' ';
        per_thread +=
            std::to_string(w->peers.size()); // not " " + ...: g++ 12 -O3 warns (-Wrestrict)
        for (uint16_t p : w->peers)
            ++times_accepted[p];
        if (w->listener != shared) close(w->listener);
    }
    long twice = 0, never = 0;
    for (const auto& [client_port, n] : times_accepted) {
        twice += n > 1;
        never += n == 0;
    }
    for (int c : clients)
        close(c);
    if (shared >= 0) close(shared);
    close(stop);
    std::printf("%-10s %8ld %5ld %5ld %8ld %8.2f %6ld %s\n", name, accepted, twice, never, wakeups,
                static_cast<double>(wakeups) / static_cast<double>(connections), empty,
                per_thread.c_str());
    return ok && twice == 0 && never == 0 && accepted == connections;
}

} // namespace

int main(int argc, char** argv) {
    long threads = 4, connections = 1000;
    parse_args(argc, argv,
               "Threads accepting on one port: wakeups per connection with and without "
               "EPOLLEXCLUSIVE, then SO_REUSEPORT's spread.",
               {Option::Number("--threads", "N", &threads, 1, 64, "accepting threads (default 4)"),
                Option::Number("--connections", "N", &connections, 1, 100000,
                               "clients to connect in each setup (default 1000)")});
    // The clients stay open until the end of a setup: one descriptor each.
    rlimit lim{};
    const rlim_t need = static_cast<rlim_t>(connections + 2 * threads + 64);
    if (getrlimit(RLIMIT_NOFILE, &lim) < 0) die("getrlimit");
    lim.rlim_cur = std::max(lim.rlim_cur, std::min(need, lim.rlim_max));
    if (setrlimit(RLIMIT_NOFILE, &lim) < 0) die("setrlimit");
    if (lim.rlim_cur < need) {
        warn("--connections %ld needs ulimit -n %lu", connections,
             static_cast<unsigned long>(need));
        return 1;
    }
    std::printf("%ld threads, %ld connections, one at a time; wakeups: times a thread was woken\n",
                threads, connections);
    std::printf("%-10s %8s %5s %5s %8s %8s %6s %s\n", "setup", "accepted", "twice", "never",
                "wakeups", "per conn", "empty", "accepted per thread");
    bool ok = run(Setup::shared, "shared", static_cast<int>(threads), connections);
    ok = run(Setup::exclusive, "exclusive", static_cast<int>(threads), connections) && ok;
    ok = run(Setup::reuseport, "reuseport", static_cast<int>(threads), connections) && ok;
    return ok ? 0 : 1;
}
