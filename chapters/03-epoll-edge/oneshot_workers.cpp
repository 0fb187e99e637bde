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
// clang-format off
// Run it
//   ./build/default/chapters/03-epoll-edge/oneshot_workers --mode oneshot   prints overlaps=0
//   ./build/default/chapters/03-epoll-edge/oneshot_workers --mode level     prints the overlaps seen
//   ./build/default/chapters/03-epoll-edge/oneshot_workers --mode edge
//   strace -f -e trace=epoll_wait,epoll_ctl ./build/default/chapters/03-epoll-edge/oneshot_workers --messages 20
// clang-format on
//
// The sockets are AF_UNIX SOCK_SEQPACKET pairs inside this process, so
// message boundaries survive two threads reading at once; the main thread
// writes numbered messages, the workers read them. Per-socket state is kept
// in atomics so the broken modes are wrong but not undefined behaviour (and
// ThreadSanitizer stays quiet about the demonstration itself). A worker
// that hits an error does not exit the process: it reports to main, which
// stops the others and exits 1 naming the call.
#include "log.hpp"
#include "options.hpp"
#include "socket_setup.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <poll.h>
#include <string>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <thread>
#include <vector>

using namespace ioladder;

namespace {

enum class Mode { oneshot, level, edge };

struct Config {
    std::string mode_name = "oneshot";
    Mode mode = Mode::oneshot;
    long threads = 4, sockets = 4, messages = 2000;
    long work_us = 50; // how long handling one message takes (a sleep)
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

// A worker must not call die(): exit() would run while the other threads are
// still inside epoll_wait and recv, and main could neither stop them nor
// clean up. It records the first failure here and returns; main, which
// watches g_failed, stops the others and exits 1 naming the call.
std::atomic<bool> g_failed{false};
const char* g_failed_call = nullptr; // written once, by whoever set g_failed;
int g_failed_errno = 0;              // read by main after joining every worker

bool fail(const char* call, int error) {
    if (!g_failed.exchange(true)) {
        g_failed_call = call;
        g_failed_errno = error;
    }
    return false;
}

constexpr uint32_t kStopToken = ~0u;

uint32_t interest(Mode m) {
    return m == Mode::oneshot ? EPOLLIN | EPOLLONESHOT
           : m == Mode::edge  ? EPOLLIN | EPOLLET
                              : EPOLLIN;
}

// [snippet: handle]
// Handles what epoll reported for one socket. Level and oneshot: one message
// per report (the next report comes while more are waiting). Edge: until
// EAGAIN, as the edge contract demands. Returns false after a failure.
bool handle(const Config& cfg, int ep, Slot& s, uint32_t token) {
    if (s.busy.fetch_add(1) != 0) ++g_overlaps; // someone else is in here
    bool ok = true;
    for (int got = 0;; ++got) {
        Message m;
        ssize_t n = recv(s.read_fd, &m, sizeof m, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (got == 0) ++g_spurious; // another thread took what woke us
            break;
        }
        if (n != sizeof m) { // an error, or 0: the writer closed (never while we run)
            ok = fail(n < 0 ? "recv" : "recv: end of stream or a short message", n < 0 ? errno : 0);
            break;
        }
        uint32_t prev = s.last_seq.exchange(m.seq);
        if (m.seq != prev + 1) ++g_out_of_order;
        std::this_thread::sleep_for(std::chrono::microseconds(cfg.work_us));
        ++g_handled;
        if (cfg.mode != Mode::edge) break;
    }
    s.busy.fetch_sub(1);
    if (ok && cfg.mode == Mode::oneshot) {
        // Re-arm last, after we are done with the socket. MOD re-evaluates
        // readiness, so a message that is already waiting is reported at once.
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLONESHOT;
        ev.data.u32 = token;
        if (epoll_ctl(ep, EPOLL_CTL_MOD, s.read_fd, &ev) < 0) return fail("epoll_ctl MOD", errno);
        ++g_rearms;
    }
    return ok;
}
// [/snippet]

// [snippet: worker]
void worker(const Config& cfg, int ep, std::vector<std::unique_ptr<Slot>>& slots) {
    for (;;) {
        epoll_event ev;
        int n = epoll_wait(ep, &ev, 1, -1); // one event: one socket per wakeup
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            fail("epoll_wait", errno); // main sees it and stops us all
            return;
        }
        if (n == 0) continue;
        if (ev.data.u32 == kStopToken) return; // level-triggered: every thread sees it
        if (!handle(cfg, ep, *slots[ev.data.u32], ev.data.u32)) return;
    }
}
// [/snippet]

// Sends one message. A full socket means the workers are behind: wait in
// poll() for room, looking every 100 ms whether a worker has failed (then
// nobody may ever read again, and we give up).
bool send_message(int fd, const Message& msg) {
    for (;;) {
        ssize_t n = send(fd, &msg, sizeof msg, kSendFlags);
        if (n == sizeof msg) return true;
        if (n >= 0) return fail("send: a short message", 0); // SEQPACKET: cannot happen
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return fail("send", errno);
        if (g_failed.load()) return false;
        pollfd p{fd, POLLOUT, 0};
        poll(&p, 1, 100);
    }
}

Config parse(int argc, char** argv) {
    Config cfg;
    parse_args(argc, argv,
               "Several threads wait on one epoll instance; counts how often two of them\n"
               "handle the same socket at once (overlaps). Prints one line of figures.",
               {Option::Text("--mode", "MODE", &cfg.mode_name,
                             "oneshot|level|edge (default oneshot)", "oneshot|level|edge"),
                Option::Number("--threads", "N", &cfg.threads, 1, 64, "worker threads (default 4)"),
                Option::Number("--sockets", "N", &cfg.sockets, 1, 1000, "socket pairs (default 4)"),
                Option::Number("--messages", "N", &cfg.messages, 1, 10000000,
                               "messages in all (default 2000)"),
                Option::Number("--work-us", "N", &cfg.work_us, 0, 100000,
                               "microseconds of work per message (default 50)")});
    cfg.mode = cfg.mode_name == "level"  ? Mode::level
               : cfg.mode_name == "edge" ? Mode::edge
                                         : Mode::oneshot;
    return cfg;
}

} // namespace

int main(int argc, char** argv) {
    Config cfg = parse(argc, argv);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");

    // [snippet: register]
    std::vector<std::unique_ptr<Slot>> slots;
    for (long i = 0; i < cfg.sockets; ++i) {
        auto s = std::make_unique<Slot>();
        int sv[2];
        // Both ends non-blocking from the start: the workers read until
        // EAGAIN, and the writer waits in poll() when a socket is full.
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
            die("socketpair");
        s->read_fd = sv[0];
        s->write_fd = sv[1];
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
    for (long t = 0; t < cfg.threads; ++t)
        workers.emplace_back(worker, std::cref(cfg), ep, std::ref(slots));

    // Numbered messages, round robin over the sockets, as fast as they go:
    // several wait on each socket at any moment.
    std::vector<uint32_t> next(slots.size(), 0);
    for (long m = 0; m < cfg.messages; ++m) {
        std::size_t i = static_cast<std::size_t>(m) % slots.size();
        if (!send_message(slots[i]->write_fd, {static_cast<uint32_t>(i), next[i]++}))
            break; // a worker failed: nobody may read again
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (g_handled.load() < cfg.messages && !g_failed.load() &&
           std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    const bool complete = g_handled.load() == cfg.messages;

    uint64_t one = 1;
    if (write(stop, &one, sizeof one) != sizeof one) die("write eventfd");
    for (auto& t : workers)
        t.join();

    std::printf("mode=%s threads=%ld sockets=%ld messages=%ld handled=%ld overlaps=%ld "
                "out_of_order=%ld spurious=%ld rearms=%ld\n",
                cfg.mode_name.c_str(), cfg.threads, cfg.sockets, cfg.messages, g_handled.load(),
                g_overlaps.load(), g_out_of_order.load(), g_spurious.load(), g_rearms.load());
    for (auto& s : slots) {
        close(s->read_fd);
        close(s->write_fd);
    }
    close(stop);
    close(ep);
    if (g_failed.load()) {
        errno = g_failed_errno;
        warn("a worker failed: %s%s%s", g_failed_call, errno ? ": " : "",
             errno ? std::strerror(errno) : "");
        return 1;
    }
    if (!complete) {
        warn("only %ld of %ld messages were handled within 30 s", g_handled.load(), cfg.messages);
        return 1;
    }
    return 0;
}
