// echo_tcp_epoll_et.cpp: a TCP echo server on edge-triggered epoll (EPOLLET).
//
// What it shows
//   - Register once: every connection is added with EPOLLIN | EPOLLOUT |
//     EPOLLRDHUP | EPOLLET and never modified. Under strace there is one
//     EPOLL_CTL_ADD per connection and no EPOLL_CTL_MOD at all.
//   - The edge contract: an event says "something changed", once. The
//     handler reads until the socket is proved empty (EAGAIN, or a short
//     read) and writes until send() says EAGAIN; the connection remembers
//     `readable`/`writable` until then. A client that reads its echoes costs
//     three calls per message: epoll_wait, recv, send.
//   - Backpressure under edges: when the 64 KiB output buffer is full the
//     server stops reading, but the socket is still readable and no new edge
//     will say so. After the buffer drains, the handler resumes reading on
//     its own.
//   - The cost of "drain everything": one client that sends and reads as
//     fast as it can keeps the handler looping on its socket, and nobody else
//     is served meanwhile. echo_tcp_epoll_fair.cpp is the fix; the chapter's
//     test measures both.
//
// Run it
//   ./build/default/chapters/03-epoll-edge/echo_tcp_epoll_et --port 2000 -v
//   nc 127.0.0.1 2000
//   strace -o tcp.trace ./build/default/chapters/03-epoll-edge/echo_tcp_epoll_et --port 2000
//
// The connection code is in edge_connection.hpp, shared with
// echo_tcp_epoll_fair.cpp. Left out on purpose: idle timeouts, TLS.
#include "echo_common.hpp"
#include "edge_connection.hpp"

using namespace ioladder;

namespace {

// [snippet: serve-until-blocked]
// Runs one connection until it can do nothing more without a new edge: the
// socket is drained (EAGAIN on read) and the output is sent, or the output
// is full and send() said EAGAIN. Reading and writing alternate, so a full
// buffer is emptied and reading resumes without waiting for an event.
// Returns false when the connection must be closed.
bool serve_until_blocked(EdgeConnection& c) {
    while (c.has_work()) {
        if (!write_until_blocked(c)) return false;
        if (!read_until_drained(c)) return false;
    }
    return !c.finished();
}
// [/snippet]

} // namespace

int main(int argc, char** argv) {
    EchoServer server(argc, argv, "TCP echo server on edge-triggered epoll (EPOLLET).",
                      SOCK_STREAM);
    EdgeServer edge(server);
    // [snippet: loop]
    for (;;) {
        // Serve every connection an edge names, right away and to the end.
        bool go_on = edge.wait(edge.idle_timeout(), [&](EdgeConnection& c) {
            if (!serve_until_blocked(c)) edge.close_connection(c);
        });
        if (!go_on) break;
        edge.accept_some(); // until EAGAIN
    }
    // [/snippet]
    return 0;
}
