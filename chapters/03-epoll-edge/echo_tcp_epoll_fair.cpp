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
    EchoServer server(argc, argv,
                      "TCP echo server on EPOLLET with a per-turn budget and a ready queue.",
                      SOCK_STREAM);
    EdgeServer edge(server);
    std::deque<int> ready; // connections with work left, in turn order
    auto make_ready = [&](EdgeConnection& c) {
        if (c.queued) return; // at most once in the queue
        c.queued = true;
        ready.push_back(c.fd);
    };

    for (;;) {
        // [snippet: wait-or-poll]
        // Owing work (a queued connection, a listener not yet drained) means
        // we must not sleep: poll for new events with timeout 0 and go on.
        // (idle_timeout() is 0 for a listener not yet drained, the rest of
        // the back-off while accepting backs off, and -1 otherwise.)
        // Edges only record what they said and queue the connection; the
        // work happens in turns, below.
        int timeout = !ready.empty() ? 0 : edge.idle_timeout();
        if (!edge.wait(timeout, make_ready)) break;
        // Budget spent: the backlog may hold more, and no edge will say so;
        // accept_some() leaves listener_ready set, and the next turn comes back.
        edge.accept_some(kAcceptBudget);
        // [/snippet]

        // [snippet: round]
        // One round: every connection queued when it starts gets one turn,
        // in order. One that still has work goes to the back, for the next
        // round, after the others (and after a fresh look at epoll).
        for (std::size_t turns = ready.size(); turns > 0; --turns) {
            int fd = ready.front();
            ready.pop_front();
            auto it = edge.conns.find(fd);
            if (it == edge.conns.end()) continue; // cannot happen: closing happens in turns
            EdgeConnection& c = it->second;
            c.queued = false;
            if (!take_turn(c)) {
                edge.close_connection(c);
                continue;
            }
            if (c.has_work()) make_ready(c);
        }
        // [/snippet]
    }
    return 0;
}
