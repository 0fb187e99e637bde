// echo_tcp_epoll_fair.cpp: edge-triggered epoll with a per-turn budget and a
// ready queue, so one busy client cannot starve the others.
//
// What it shows
//   - The starvation in echo_tcp_epoll_et.cpp: "read until EAGAIN" never ends
//     while a client keeps sending (and reading its echo), and the other
//     clients wait, unnoticed, until it pauses.
//   - The fix, as production event loops do it: a connection gets a turn of
//     at most 64 KiB read. If it still has work after its turn (the socket is
//     still readable, the output is still sendable), it goes to the back of a
//     ready queue instead of being finished now. The queue is served round
//     robin, and while it is not empty epoll_wait() is called with timeout 0:
//     new events join the queue, but the loop never sleeps on work it owes.
//   - Nothing else changes: registration once with EPOLLET, the same
//     connection code (edge_connection.hpp), the same echo.
//
// Run it
//   ./echo_tcp_epoll_fair --port 2000          (add -v to log every event)
//   strace -o fair.trace ./echo_tcp_epoll_fair --port 2000
//
// Left out on purpose: priorities, per-client rate limits, idle timeouts.
#include "echo_common.hpp"
#include "edge_connection.hpp"

#include <deque>
#include <sys/epoll.h>
#include <unordered_map>

using namespace ioladder;

namespace {

// Bytes read from one connection per turn: one output buffer's worth. Small
// enough that a turn takes microseconds, large enough that a bulk transfer
// still moves in big reads.
constexpr std::size_t kReadBudget = 64 * 1024;
// Connections accepted per turn of the listener, for the same reason.
constexpr int kAcceptBudget = 64;

// [snippet: take-turn]
// One turn: send what is pending, read at most kReadBudget, send the echo.
// Unlike serve_until_blocked() in echo_tcp_epoll_et.cpp this stops with work
// left; the caller queues the connection again (has_work() says so).
// Returns false when the connection must be closed.
bool take_turn(EdgeConnection& c) {
    if (!write_until_blocked(c)) return false;
    if (!read_until_drained(c, kReadBudget)) return false;
    if (!write_until_blocked(c)) return false; // write first: the echo goes out in this turn
    return !c.finished();
}
// [/snippet]

} // namespace

int main(int argc, char** argv) {
    Options opt = parse_options(
        argc, argv, "TCP echo server on EPOLLET with a per-turn budget and a ready queue.");
    ShutdownPipe shutdown;
    int listener = open_bound_socket(opt, SOCK_STREAM);
    Acceptor acceptor(listener);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");

    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLET;
    ev.data.fd = listener;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev) < 0) die("epoll_ctl ADD listener");
    ev.events = EPOLLIN;
    ev.data.fd = shutdown.fd();
    if (epoll_ctl(ep, EPOLL_CTL_ADD, shutdown.fd(), &ev) < 0) die("epoll_ctl ADD shutdown pipe");
    announce(listener, "tcp");

    std::unordered_map<int, EdgeConnection> conns;
    std::deque<int> ready;       // connections with work left, in turn order
    bool listener_ready = false; // an edge came and accept() has not said EAGAIN since

    auto make_ready = [&](EdgeConnection& c) {
        if (c.queued) return; // at most once in the queue
        c.queued = true;
        ready.push_back(c.fd);
    };
    auto close_connection = [&](EdgeConnection& c) {
        IOLADDER_LOG("%s: closed", c.name.c_str());
        int fd = c.fd; // a copy: erase() destroys c
        close(fd);     // also removes it from the epoll interest list
        conns.erase(fd);
    };

    epoll_event events[64];
    for (;;) {
        // [snippet: wait-or-poll]
        // Owing work (a queued connection, a listener not yet drained) means
        // we must not sleep: poll for new events with timeout 0 and go on.
        // A listener whose accepting backs off is owed work a little later.
        int timeout = !ready.empty() ? 0 : listener_ready ? acceptor.backoff_ms() : -1;
        int n = epoll_wait(ep, events, 64, timeout);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        bool stop = false;
        for (int i = 0; i < n; ++i) {
            int fd = events[i].data.fd;
            if (fd == shutdown.fd()) {
                stop = true;
            } else if (fd == listener) {
                listener_ready = true;
            } else if (auto it = conns.find(fd); it != conns.end()) {
                // Events only record what the edge said and queue the
                // connection; the work happens in turns, below.
                uint32_t e = events[i].events;
                if (e & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) it->second.readable = true;
                if (e & EPOLLRDHUP) it->second.rdhup = true;
                if (e & (EPOLLOUT | EPOLLERR | EPOLLHUP)) it->second.writable = true;
                make_ready(it->second);
            }
        }
        if (stop) break;
        // [/snippet]

        // [snippet: accept-budget]
        if (listener_ready) {
            std::string name;
            int accepted = 0;
            for (; accepted < kAcceptBudget; ++accepted) {
                int c = acceptor.accept_one(&name);
                if (c < 0) break;
                epoll_event cev{};
                cev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET; // once, for its lifetime
                cev.data.fd = c;
                if (epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev) < 0) {
                    warn("epoll_ctl ADD %s: %s", name.c_str(), std::strerror(errno));
                    close(c);
                    continue;
                }
                IOLADDER_LOG("%s: accepted as fd %d", name.c_str(), c);
                conns.try_emplace(c, c, name);
            }
            // Budget spent: the backlog may hold more, and no edge will say so.
            // Backing off: connections are still queued; try again shortly.
            listener_ready = accepted == kAcceptBudget || acceptor.backing_off();
        }
        // [/snippet]

        // [snippet: round]
        // One round: every connection queued when it starts gets one turn,
        // in order. One that still has work goes to the back, for the next
        // round, after the others (and after a fresh look at epoll).
        for (std::size_t turns = ready.size(); turns > 0; --turns) {
            int fd = ready.front();
            ready.pop_front();
            auto it = conns.find(fd);
            if (it == conns.end()) continue; // cannot happen: closing happens in turns
            EdgeConnection& c = it->second;
            c.queued = false;
            if (!take_turn(c)) {
                close_connection(c);
                continue;
            }
            if (c.has_work()) make_ready(c);
        }
        // [/snippet]
    }

    // Shutting down: one non-blocking attempt to send what is pending, then close.
    for (auto& [fd, c] : conns) {
        write_output(c);
        close(fd);
    }
    close(ep);
    close(listener);
    IOLADDER_LOG("shut down");
    return 0;
}
