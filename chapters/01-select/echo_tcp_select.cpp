// echo_tcp_select.cpp: a TCP echo server for many clients on select().
//
// What it shows
//   - The select() contract: three bitmaps in, the ready subset out, so the
//     sets are rebuilt from connection state before every call, and the
//     kernel scans every descriptor up to the highest one we pass.
//   - Per-connection state drives interest: read only while the connection's
//     64 KiB output buffer has room (backpressure), and after the client
//     half-closes, echo what is left, then close.
//   - Write first: the echo is sent straight after the read. Write interest is
//     asked for only while output is still pending, after send() said EAGAIN.
//   - The FD_SETSIZE trap: an fd_set holds descriptors 0..1023. FD_SET() on a
//     larger one writes past the end of the bitmap (memory corruption, no
//     error). This server refuses such connections with a log line and keeps
//     serving everyone else.
//
// Run it
//   ./echo_tcp_select --port 2000            (add -v to log every event)
//   nc 127.0.0.1 2000
//   strace -o tcp.trace ./echo_tcp_select --port 2000
//
// The connection code is in chapters/common/tcp_connection.hpp, shared with
// every TCP server of the ladder, so the servers differ only in the mechanism.
// Left out on purpose: timeouts for idle clients, TLS, IPv6 dual-stack.
#include "echo_common.hpp"
#include "tcp_connection.hpp"

#include <algorithm>
#include <sys/select.h>
#include <vector>

using namespace ioladder;

int main(int argc, char** argv) {
    EchoServer server(argc, argv, "TCP echo server on select() for many clients.", SOCK_STREAM);
    const int listener = server.fd();
    Acceptor& acceptor = server.acceptor();
    if (listener >= FD_SETSIZE || server.shutdown_fd() >= FD_SETSIZE) {
        warn("descriptor %d is not below FD_SETSIZE (%d); select() cannot watch it",
             std::max(listener, server.shutdown_fd()), FD_SETSIZE);
        return 1;
    }
    announce(listener, "tcp");
    std::vector<Connection> conns;

    for (;;) {
        // [snippet: build-sets]
        fd_set readable, writable;
        FD_ZERO(&readable);
        FD_ZERO(&writable);
        FD_SET(server.shutdown_fd(), &readable);
        // Backing off after a failed accept (see accept-guard): leave the
        // listener out, and wait at most until accepting may try again.
        const int backoff_ms = acceptor.backoff_ms(); // read once: it runs out by itself
        if (backoff_ms == 0) FD_SET(listener, &readable);
        int maxfd = std::max(server.shutdown_fd(), listener);
        for (const Connection& c : conns) {
            if (c.wants_read()) FD_SET(c.fd, &readable);
            if (c.wants_write()) FD_SET(c.fd, &writable);
            maxfd = std::max(maxfd, c.fd);
        }
        // [/snippet]

        // [snippet: wait-and-dispatch]
        timeval backoff{0, backoff_ms * 1000};
        int ready =
            select(maxfd + 1, &readable, &writable, nullptr, backoff_ms ? &backoff : nullptr);
        if (ready < 0) {
            if (errno == EINTR) continue;
            die("select");
        }
        if (FD_ISSET(server.shutdown_fd(), &readable)) break;

        for (Connection& c : conns) {
            bool keep = true;
            // Pending output first: draining it makes room for the read below.
            if (FD_ISSET(c.fd, &writable)) keep = write_output(c) != WriteStatus::failed;
            // One read, and its echo sent at once (write first).
            if (keep && FD_ISSET(c.fd, &readable)) keep = read_and_echo(c);
            if (!keep || c.finished()) {
                IOLADDER_LOG("%s: closed", c.name.c_str());
                close(c.fd);
                c.fd = -1;
            }
        }
        std::erase_if(conns, [](const Connection& c) { return c.fd < 0; });
        // [/snippet]

        // New connections join the next round. The ready sets describe only
        // the descriptors we passed in, and accept() may hand out the number
        // of one just closed above: a new connection is never tested
        // against this round's bits.
        // [snippet: accept-guard]
        // After a back-off the listener is tried again even if select() timed out.
        if (FD_ISSET(listener, &readable) || (backoff_ms > 0 && ready == 0)) {
            std::string name;
            for (int n = 0; n < 64; ++n) { // bounded: the others get their turn
                int fd = acceptor.accept_one(&name);
                if (fd < 0) break;
                if (fd >= FD_SETSIZE) {
                    // FD_SET(fd) would write outside the fd_set: refuse instead.
                    warn("refused %s: descriptor %d is not below FD_SETSIZE (%d), "
                         "select() cannot watch it",
                         name.c_str(), fd, FD_SETSIZE);
                    close(fd);
                    continue;
                }
                IOLADDER_LOG("%s: accepted as fd %d", name.c_str(), fd);
                conns.emplace_back(fd, name);
            }
        }
        // [/snippet]
    }

    // Shutting down: one non-blocking attempt to send what is pending, then close.
    for (Connection& c : conns) {
        write_output(c);
        close(c.fd);
    }
    IOLADDER_LOG("shut down");
    return 0;
}
