// oneshot_workers.cpp: several threads waiting on one epoll instance, with
// and without EPOLLONESHOT, counting how often two threads handle the same
// socket at once.
//
// What it shows
//   - With EPOLLONESHOT an event disables the descriptor's registration the
//     moment it is reported. Exactly one thread gets it; nobody else hears
//     about that socket until the owner re-arms it with EPOLL_CTL_MOD. So the
//     owner may touch the socket's state without a lock, and messages on one
//     socket are handled in order.
//   - Without it, level-triggered epoll reports a socket that is still
//     readable to every waiting thread, and edge-triggered epoll reports each
//     new arrival to whichever thread is waiting, even while another thread
//     is still reading that socket. Both give overlaps: two threads on one
//     socket, racing on its state and reordering its messages.
//   - Re-arm only after you are done with the socket: a MOD issued while
//     still reading hands it to another thread too early.
//
// Run it
//   ./oneshot_workers --mode oneshot      prints overlaps=0
//   ./oneshot_workers --mode level        prints how many overlaps it saw
//   ./oneshot_workers --mode edge
//   strace -f -e trace=epoll_wait,epoll_ctl ./oneshot_workers --mode oneshot --messages 20
//
// The sockets are AF_UNIX SOCK_SEQPACKET pairs inside this process, so
// message boundaries survive two threads reading at once; the main thread
// writes numbered messages, the workers read them. Per-socket state is kept
// in atomics so the broken modes are wrong but not undefined behaviour (and
// ThreadSanitizer stays quiet about the demonstration itself).
#include "echo_common.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <thread>
#include <vector>

using namespace ioladder;

namespace {

enum class Mode { oneshot, level, edge };

struct Config {
    Mode mode = Mode::oneshot;
    int threads = 4;
    int sockets = 4;
    int messages = 2000;
    int work_us = 50; // how long handling one message takes (a sleep)
};

struct Message {
    uint32_t socket;
    uint32_t seq; // 0, 1, 2, ... per socket
};

// One watched socket. Everything here is atomic on purpose: in the broken
// modes two threads really do get here at once.
struct Slot {
    int read_fd = -1;
    int write_fd = -1;
    std::atomic<int> busy{0};            // threads handling this socket right now
    std::atomic<uint32_t> last_seq{~0u}; // the last sequence number handled
};

std::atomic<long> g_overlaps{0};     // a thread arrived while another was busy here
std::atomic<long> g_out_of_order{0}; // a message handled before its predecessor
std::atomic<long> g_spurious{0};     // woken for a socket that had nothing to read
std::atomic<long> g_rearms{0};       // EPOLL_CTL_MOD calls
std::atomic<long> g_handled{0};      // messages handled

constexpr uint32_t kStopToken = ~0u;

uint32_t interest(Mode m) {
    switch (m) {
    case Mode::oneshot:
        return EPOLLIN | EPOLLONESHOT;
    case Mode::level:
        return EPOLLIN;
    case Mode::edge:
        return EPOLLIN | EPOLLET;
    }
    return EPOLLIN;
}

// [snippet: handle]
// Handles what epoll reported for one socket. Level and oneshot: one message
// per report (the next report comes while more are waiting). Edge: until
// EAGAIN, as the edge contract demands.
void handle(const Config& cfg, int ep, Slot& s, uint32_t token) {
    if (s.busy.fetch_add(1) != 0) ++g_overlaps; // someone else is in here
    for (int got = 0;; ++got) {
        Message m;
        ssize_t n = recv(s.read_fd, &m, sizeof m, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) die("recv");
            if (got == 0) ++g_spurious; // another thread took what woke us
            break;
        }
        uint32_t prev = s.last_seq.exchange(m.seq);
        if (m.seq != prev + 1) ++g_out_of_order;
        std::this_thread::sleep_for(std::chrono::microseconds(cfg.work_us));
        ++g_handled;
        if (cfg.mode != Mode::edge) break;
    }
    s.busy.fetch_sub(1);
    if (cfg.mode == Mode::oneshot) {
        // Re-arm last, after we are done with the socket. MOD re-evaluates
        // readiness, so a message that is already waiting is reported at once.
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLONESHOT;
        ev.data.u32 = token;
        if (epoll_ctl(ep, EPOLL_CTL_MOD, s.read_fd, &ev) < 0) die("epoll_ctl MOD");
        ++g_rearms;
    }
}
// [/snippet]

// [snippet: worker]
void worker(const Config& cfg, int ep, std::vector<std::unique_ptr<Slot>>& slots) {
    for (;;) {
        epoll_event ev;
        int n = epoll_wait(ep, &ev, 1, -1); // one event: one socket per wakeup
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        if (n == 0) continue;
        if (ev.data.u32 == kStopToken) return; // level-triggered: every thread sees it
        handle(cfg, ep, *slots[ev.data.u32], ev.data.u32);
    }
}
// [/snippet]

[[noreturn]] void usage(int status) {
    std::fprintf(status == 0 ? stdout : stderr,
                 "usage: %s [--mode oneshot|level|edge] [--threads N] [--sockets N]\n"
                 "       [--messages N] [--work-us N] [--help]\n"
                 "Several threads wait on one epoll instance; counts how often two of them\n"
                 "handle the same socket at once (overlaps). Prints one line of figures.\n",
                 g_program);
    std::exit(status);
}

Config parse(int argc, char** argv) {
    g_program = "oneshot_workers";
    Config cfg;
    auto number = [&](int& i, int lo, int hi) {
        if (i + 1 >= argc) usage(2);
        char* end = nullptr;
        long v = std::strtol(argv[++i], &end, 10);
        if (*end != '\0' || v < lo || v > hi) {
            warn("%s: not a number in %d..%d: '%s'", argv[i - 1], lo, hi, argv[i]);
            usage(2);
        }
        return static_cast<int>(v);
    };
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--help" || a == "-h") {
            usage(0);
        } else if (a == "--mode" && i + 1 < argc) {
            std::string m = argv[++i];
            if (m == "oneshot")
                cfg.mode = Mode::oneshot;
            else if (m == "level")
                cfg.mode = Mode::level;
            else if (m == "edge")
                cfg.mode = Mode::edge;
            else
                usage(2);
        } else if (a == "--threads") {
            cfg.threads = number(i, 1, 64);
        } else if (a == "--sockets") {
            cfg.sockets = number(i, 1, 1000);
        } else if (a == "--messages") {
            cfg.messages = number(i, 1, 10000000);
        } else if (a == "--work-us") {
            cfg.work_us = number(i, 0, 100000);
        } else {
            warn("unknown argument '%s'", argv[i]);
            usage(2);
        }
    }
    return cfg;
}

} // namespace

int main(int argc, char** argv) {
    Config cfg = parse(argc, argv);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");

    // [snippet: register]
    std::vector<std::unique_ptr<Slot>> slots;
    for (int i = 0; i < cfg.sockets; ++i) {
        auto s = std::make_unique<Slot>();
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) die("socketpair");
        s->read_fd = sv[0];
        s->write_fd = sv[1]; // stays blocking: the writer simply waits when it is full
        if (fcntl(s->read_fd, F_SETFL, O_NONBLOCK) < 0) die("fcntl");
        epoll_event ev{};
        ev.events = interest(cfg.mode);
        ev.data.u32 = static_cast<uint32_t>(i);
        if (epoll_ctl(ep, EPOLL_CTL_ADD, s->read_fd, &ev) < 0) die("epoll_ctl ADD");
        slots.push_back(std::move(s));
    }
    // [/snippet]
    // Stopping: an eventfd that is never read, registered level-triggered,
    // so once written every thread's next epoll_wait reports it.
    int stop = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (stop < 0) die("eventfd");
    epoll_event sev{};
    sev.events = EPOLLIN;
    sev.data.u32 = kStopToken;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, stop, &sev) < 0) die("epoll_ctl ADD eventfd");

    std::vector<std::thread> workers;
    for (int t = 0; t < cfg.threads; ++t)
        workers.emplace_back(worker, std::cref(cfg), ep, std::ref(slots));

    // Numbered messages, round robin over the sockets, as fast as they go:
    // several wait on each socket at any moment.
    std::vector<uint32_t> next(slots.size(), 0);
    for (int m = 0; m < cfg.messages; ++m) {
        std::size_t i = static_cast<std::size_t>(m) % slots.size();
        Message msg{static_cast<uint32_t>(i), next[i]++};
        while (send(slots[i]->write_fd, &msg, sizeof msg, kSendFlags) < 0)
            if (errno != EINTR) die("send");
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (g_handled.load() < cfg.messages && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    const bool complete = g_handled.load() == cfg.messages;

    uint64_t one = 1;
    if (write(stop, &one, sizeof one) != sizeof one) die("write eventfd");
    for (auto& t : workers)
        t.join();

    const char* mode = cfg.mode == Mode::oneshot ? "oneshot"
                       : cfg.mode == Mode::level ? "level"
                                                 : "edge";
    std::printf("mode=%s threads=%d sockets=%d messages=%d handled=%ld overlaps=%ld "
                "out_of_order=%ld spurious=%ld rearms=%ld\n",
                mode, cfg.threads, cfg.sockets, cfg.messages, g_handled.load(), g_overlaps.load(),
                g_out_of_order.load(), g_spurious.load(), g_rearms.load());
    for (auto& s : slots) {
        close(s->read_fd);
        close(s->write_fd);
    }
    close(stop);
    close(ep);
    if (!complete) {
        warn("only %ld of %d messages were handled within 30 s", g_handled.load(), cfg.messages);
        return 1;
    }
    return 0;
}
