// echo_tcp_poll.cpp: the TCP echo server of echo_tcp_select.cpp, on poll().
//
// What changes
//   - An array of struct pollfd replaces the bitmaps: any descriptor number
//     works, so there is no FD_SETSIZE limit and no refusal.
//   - poll() writes results into revents and leaves events alone, so the
//     array is kept from call to call; we only update each entry's events.
//   - Errors and hang-ups come back as POLLERR/POLLHUP even when not asked for.
// What does not change
//   - Every call still copies the whole array into the kernel and back, and
//     the kernel still checks every entry: the cost grows with the number of
//     connections, not with the number that are ready. epoll (chapter 02)
//     is the fix.
//   - Interest still follows state: read while there is room, write while
//     output is pending.
//
// Run it
//   ./echo_tcp_poll --port 2000              (add -v to log every event)
//   nc 127.0.0.1 2000
//   strace -o poll.trace ./echo_tcp_poll --port 2000
//
// Left out on purpose: timeouts for idle clients, TLS, IPv6 dual-stack.
#include "echo_common.hpp"
#include "tcp_connection.hpp"

#include <poll.h>
#include <vector>

using namespace ioladder;

int main(int argc, char** argv) {
    EchoServer server(argc, argv, "TCP echo server on poll() for many clients.", SOCK_STREAM);
    const int listener = server.fd();
    Acceptor& acceptor = server.acceptor();
    announce(listener, "tcp");

    // [snippet: pollfd-array]
    // pfds[0] is the shutdown pipe, pfds[1] the listener, and pfds[2 + i]
    // belongs to conns[i]: the two vectors grow and shrink together.
    std::vector<pollfd> pfds{{server.shutdown_fd(), POLLIN, 0}, {listener, POLLIN, 0}};
    std::vector<Connection> conns;
    // [/snippet]

    for (;;) {
        // [snippet: update-events]
        for (std::size_t i = 0; i < conns.size(); ++i) {
            short events = 0;
            if (conns[i].wants_read()) events |= POLLIN;
            if (conns[i].wants_write()) events |= POLLOUT;
            pfds[2 + i].events = events;
        }
        // While accepting backs off, poll() must not watch the listener (it
        // would report it at once, again and again). A negative fd is skipped
        // by poll() (poll(2)); ~fd keeps the number recoverable.
        const int backoff_ms = acceptor.backoff_ms(); // read once: it runs out by itself
        pfds[1].fd = backoff_ms > 0 ? ~listener : listener;
        // [/snippet]

        // [snippet: wait-and-dispatch]
        int ready = poll(pfds.data(), pfds.size(), backoff_ms > 0 ? backoff_ms : -1);
        if (ready < 0) {
            if (errno == EINTR) continue;
            die("poll");
        }
        if (pfds[0].revents & POLLIN) break;

        for (std::size_t i = 0; i < conns.size();) {
            Connection& c = conns[i];
            short rev = pfds[2 + i].revents;
            bool keep = true;
            // POLLERR/POLLHUP arrive unasked: the read or write below then
            // returns the error (or EOF) and we close.
            if (rev & (POLLOUT | POLLERR)) keep = write_output(c) != WriteStatus::failed;
            // One read, and its echo sent at once (write first).
            if (keep && (rev & (POLLIN | POLLHUP | POLLERR))) keep = read_and_echo(c);
            if (rev & POLLNVAL) keep = false; // not open: a bug, but never spin on it
            if (keep && !c.finished()) {
                ++i;
                continue;
            }
            IOLADDER_LOG("%s: closed", c.name.c_str());
            close(c.fd);
            // Swap-remove from both vectors; the moved-in entry is visited next.
            if (i + 1 != conns.size()) {
                conns[i] = std::move(conns.back());
                pfds[2 + i] = pfds.back();
            }
            conns.pop_back();
            pfds.pop_back();
        }
        // [/snippet]

        // [snippet: accept]
        // After a back-off the listener is tried again even if poll() timed out.
        if ((pfds[1].revents & POLLIN) || (ready == 0 && pfds[1].fd < 0)) {
            std::string name;
            for (int n = 0; n < 64; ++n) { // bounded: the others get their turn
                int fd = acceptor.accept_one(&name);
                if (fd < 0) break;
                IOLADDER_LOG("%s: accepted as fd %d", name.c_str(), fd);
                conns.emplace_back(fd, name);
                pfds.push_back({fd, 0, 0});
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
