// echo_tcp_epoll_lt.cpp: the TCP echo server of chapter 01, on
// level-triggered epoll.
//
// What changes from echo_tcp_poll.cpp
//   - The interest list lives in the kernel. Each descriptor is added once
//     (EPOLL_CTL_ADD) when it is opened, and epoll_wait() hands back only the
//     ready ones (the ready list). A wakeup costs in proportion to what is
//     ready, not to how many connections are watched.
//   - Changing interest is now a system call (EPOLL_CTL_MOD), so each
//     connection remembers what is registered, and epoll_ctl() runs only when
//     that differs from what the connection wants.
//   - Write first: after a read the echo is sent at once. EPOLLOUT is asked
//     for only when send() could not take everything (EAGAIN), and dropped
//     when the rest has gone. A client that reads its echoes costs three
//     calls per message (epoll_wait, recv, send) and no epoll_ctl at all.
//     `--arm-first` shows the other order (arm EPOLLOUT after every read,
//     send when epoll_wait says writable, disarm): six calls per message.
//   - close() takes a descriptor out of the interest list: no EPOLL_CTL_DEL.
// What does not change
//   - Level-triggered readiness: a socket that is still readable is reported
//     again by the next epoll_wait(), so one read per report is enough.
//   - Backpressure, partial writes, half-close, EMFILE shedding, the
//     shutdown pipe (chapters/common/).
//
// Run it (from the repository root)
//   ./build/default/chapters/02-epoll-level/echo_tcp_epoll_lt --port 2000 -v
//   nc 127.0.0.1 2000
//   strace -e trace=epoll_wait,epoll_ctl,recvfrom,sendto
//       ./build/default/chapters/02-epoll-level/echo_tcp_epoll_lt --port 2000
//       (one command)
//
// Left out on purpose: timeouts for idle clients, edge triggering (chapter 03).
#include "echo_common.hpp"
#include "tcp_connection.hpp"

#include <array>
#include <sys/epoll.h>
#include <unordered_map>

using namespace ioladder;

namespace {

// [snippet: watched]
// Chapter 01's connection, plus the events the interest list holds for its
// descriptor, so the server can tell when an epoll_ctl() is due.
struct Watched : Connection {
    using Connection::Connection;
    uint32_t registered = EPOLLIN;
};
// [/snippet]

// [snippet: watch]
// Adds fd to the interest list. Done once per descriptor: from now on the
// kernel keeps watching it, and every report carries data.fd to name it.
bool watch(int epfd, int fd, uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == 0) return true;
    // ENOSPC (fs.epoll.max_user_watches) or ENOMEM: the caller drops this one.
    warn("epoll_ctl ADD fd %d: %s", fd, std::strerror(errno));
    return false;
}
// [/snippet]

// [snippet: update-interest]
// The events this connection wants: read while there is room and the client
// still sends, write only while output is queued. Level-triggered EPOLLOUT
// on an idle socket would be reported by every epoll_wait(): a busy loop.
uint32_t wanted_events(const Connection& c) {
    uint32_t events = 0;
    if (c.wants_read()) events |= EPOLLIN;   // full buffer or EOF seen: stop (backpressure)
    if (c.wants_write()) events |= EPOLLOUT; // only while send() left something behind
    return events;
}

// Makes the interest list match the connection's state. With write first,
// output is pending only after send() said EAGAIN, so a MOD happens only
// while a client is not reading fast enough (and when it catches up).
bool update_interest(int epfd, Watched& c) {
    uint32_t want = wanted_events(c);
    if (want == c.registered) return true;
    epoll_event ev{};
    ev.events = want;
    ev.data.fd = c.fd;
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, c.fd, &ev) < 0) {
        warn("%s: epoll_ctl MOD: %s", c.name.c_str(), std::strerror(errno)); // ENOMEM
        return false;
    }
    c.registered = want;
    return true;
}
// [/snippet]

} // namespace

int main(int argc, char** argv) {
    bool arm_first = false;
    EchoServer server(
        argc, argv, "TCP echo server on level-triggered epoll for many clients.", SOCK_STREAM,
        {Option::Flag("--arm-first", &arm_first,
                      "arm EPOLLOUT after each read and send when told (the slow order)")});
    const int listener = server.fd();
    Acceptor& acceptor = server.acceptor();

    // [snippet: setup]
    // EPOLL_CLOEXEC: a child started with exec() must not inherit the epoll
    // descriptor (and with it our registrations).
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) die("epoll_create1");
    // The shutdown pipe is watched like any socket: SIGINT/SIGTERM write one
    // byte to it, and epoll_wait() reports it readable.
    if (!watch(epfd, server.shutdown_fd(), EPOLLIN) || !watch(epfd, listener, EPOLLIN))
        die("epoll_ctl ADD");
    std::unordered_map<int, Watched> conns; // data.fd -> its state
    std::array<epoll_event, 64> ready;      // up to 64 reports per wakeup
    // [/snippet]
    // Announced once the loop is ready: whoever reads the line (a test
    // counting our descriptors) sees the epoll instance already open.
    announce(listener, "tcp");

    // While accepting backs off (acceptor.hpp), the listener must not be
    // watched: level-triggered, it would be reported at once, again and again.
    bool listening = true;
    auto listen_or_pause = [&] {
        bool want = !acceptor.backing_off();
        if (want == listening) return;
        epoll_event ev{};
        ev.events = want ? uint32_t{EPOLLIN} : 0;
        ev.data.fd = listener;
        if (epoll_ctl(epfd, EPOLL_CTL_MOD, listener, &ev) == 0) listening = want;
    };

    for (;;) {
        listen_or_pause();
        // [snippet: wait-and-dispatch]
        int timeout = listening ? -1 : acceptor.backoff_ms();
        int n = epoll_wait(epfd, ready.data(), static_cast<int>(ready.size()), timeout);
        if (n < 0) {
            if (errno == EINTR) continue; // a signal; the shutdown pipe says which
            die("epoll_wait");
        }
        bool stop = false, can_accept = false;
        for (int i = 0; i < n; ++i) {
            int fd = ready[i].data.fd;
            uint32_t rev = ready[i].events;
            if (fd == server.shutdown_fd()) {
                stop = true;
                continue;
            }
            if (fd == listener) {
                can_accept = true; // after this batch, see below
                continue;
            }
            auto it = conns.find(fd);
            if (it == conns.end()) continue; // not ours (cannot happen: close() unregisters)
            Watched& c = it->second;
            bool keep = true;
            // EPOLLERR and EPOLLHUP are reported even though we never ask for
            // them. The write or read below then fails (or sees EOF) and we
            // close, instead of being woken for them forever.
            if (rev & (EPOLLOUT | EPOLLERR | EPOLLHUP))
                keep = write_output(c) != WriteStatus::failed;
            if (keep && (rev & (EPOLLIN | EPOLLERR | EPOLLHUP))) {
                if (!arm_first) {
                    keep = read_and_echo(c); // one read, and the echo sent at once
                } else if (c.wants_read()) { // read only; EPOLLOUT gets armed below
                    keep = read_some(c).status != ReadStatus::failed;
                }
            }
            if (keep && !c.finished()) keep = update_interest(epfd, c);
            if (!keep || c.finished()) {
                IOLADDER_LOG("%s: closed", c.name.c_str());
                close(fd); // also removes fd from the interest list: no EPOLL_CTL_DEL
                conns.erase(it);
            }
        }
        if (stop) break;
        // [/snippet]

        // Accepting after the batch keeps one rule for every epoll server:
        // a report in `ready` always means the connection it was made for.
        // Here each handler closes only its own descriptor, and epoll reports
        // a descriptor at most once per call, so accepting in the batch would
        // be safe too. The hazard is a handler that closes *another*
        // descriptor (epoll(7): event #47 closes #13): a later report for #13
        // is stale, and a new connection that got number 13 would receive it.
        // [snippet: accept]
        if (can_accept) {
            std::string name;
            for (int k = 0; k < 64; ++k) { // bounded; the listener is reported again if more wait
                int fd = acceptor.accept_one(&name);
                if (fd < 0) break;
                if (!watch(epfd, fd, EPOLLIN)) {
                    close(fd);
                    continue;
                }
                IOLADDER_LOG("%s: accepted as fd %d", name.c_str(), fd);
                conns.try_emplace(fd, fd, name); // registered: EPOLLIN
            }
        }
        // [/snippet]
    }

    // Shutting down: one non-blocking attempt to send what is pending, then close.
    for (auto& [fd, c] : conns) {
        write_output(c);
        close(fd);
    }
    close(epfd);
    IOLADDER_LOG("shut down");
    return 0;
}
