// echo_tcp_epoll_lt.cpp: the TCP echo server of chapter 01, on
// level-triggered epoll.
//
// What changes from echo_tcp_poll.cpp
//   - The interest list lives in the kernel. Each descriptor is added once
//     (EPOLL_CTL_ADD) when it is opened, and epoll_wait() hands back only the
//     ready ones (the ready list). A wakeup costs in proportion to what is
//     ready, not to how many connections are watched.
//   - Interest still follows state: read while the 64 KiB output buffer has
//     room, write while output is pending. But changing interest is now a
//     system call (EPOLL_CTL_MOD), so each connection remembers what is
//     registered and epoll_ctl() runs only when that differs from what the
//     connection wants.
//   - epoll_event.data carries the descriptor; a map from descriptor to
//     Connection finds the state. No FD_SETSIZE, no array to keep in step.
//   - close() takes a descriptor out of the interest list: no EPOLL_CTL_DEL.
// What does not change
//   - Level-triggered readiness: a socket that is still readable is reported
//     again by the next epoll_wait(), so one read per report is enough.
//   - Backpressure, partial writes, half-close, EMFILE shedding, the
//     shutdown pipe (see tcp_connection.hpp and echo_common.hpp).
//
// Run it
//   ./echo_tcp_epoll_lt --port 2000          (add -v to log every event)
//   nc 127.0.0.1 2000
//   strace -e trace=epoll_wait,epoll_ctl,recvfrom,sendto ./echo_tcp_epoll_lt --port 2000
//
// Left out on purpose: timeouts for idle clients, writing before waiting
// (see the book's pitfalls), edge triggering (chapter 03).
#include "echo_common.hpp"
#include "tcp_connection.hpp"

#include <array>
#include <sys/epoll.h>
#include <unordered_map>

using namespace ioladder;

namespace {

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
    if (c.wants_write()) events |= EPOLLOUT; // on when output appears, off when it drains
    return events;
}

// Makes the interest list match the connection's state. Most calls find
// nothing to change and make no system call; the MODs are the moments the
// output buffer turns non-empty, drains, fills up, or the client sends EOF.
bool update_interest(int epfd, Connection& c) {
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
    Options opt =
        parse_options(argc, argv, "TCP echo server on level-triggered epoll for many clients.");
    ShutdownPipe shutdown;
    SpareFd spare;
    int listener = open_bound_socket(opt, SOCK_STREAM);

    // [snippet: setup]
    // EPOLL_CLOEXEC: a child started with exec() must not inherit the epoll
    // descriptor (and with it our registrations).
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) die("epoll_create1");
    // The shutdown pipe is watched like any socket: SIGINT/SIGTERM write one
    // byte to it, and epoll_wait() reports it readable.
    if (!watch(epfd, shutdown.fd(), EPOLLIN) || !watch(epfd, listener, EPOLLIN))
        die("epoll_ctl ADD");
    std::unordered_map<int, Connection> conns; // data.fd -> its state
    std::array<epoll_event, 64> ready;         // up to 64 reports per wakeup
    // [/snippet]
    // Announced once the loop is ready: whoever reads the line (a test
    // counting our descriptors) sees the epoll instance already open.
    announce(listener, "tcp");

    for (;;) {
        // [snippet: wait-and-dispatch]
        int n = epoll_wait(epfd, ready.data(), static_cast<int>(ready.size()), -1);
        if (n < 0) {
            if (errno == EINTR) continue; // a signal; the shutdown pipe says which
            die("epoll_wait");
        }
        bool stop = false, can_accept = false;
        for (int i = 0; i < n; ++i) {
            int fd = ready[i].data.fd;
            uint32_t rev = ready[i].events;
            if (fd == shutdown.fd()) {
                stop = true;
                continue;
            }
            if (fd == listener) {
                can_accept = true; // after this batch, see below
                continue;
            }
            auto it = conns.find(fd);
            if (it == conns.end()) continue; // not ours (cannot happen: close() unregisters)
            Connection& c = it->second;
            bool keep = true;
            // EPOLLERR and EPOLLHUP are reported even though we never ask for
            // them. The write or read below then fails (or sees EOF) and we
            // close, instead of being woken for them forever.
            if (rev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) keep = write_output(c);
            if (keep && (rev & (EPOLLIN | EPOLLERR | EPOLLHUP))) keep = read_into_output(c);
            if (keep && !c.finished()) keep = update_interest(epfd, c);
            if (!keep || c.finished()) {
                IOLADDER_LOG("%s: closed", c.name.c_str());
                close(fd); // also removes fd from the interest list: no EPOLL_CTL_DEL
                conns.erase(it);
            }
        }
        if (stop) break;
        // [/snippet]

        // Accepting after the batch: accept() may hand out the number of a
        // descriptor closed above, and a report later in this batch for the
        // old connection must not reach the new one.
        // [snippet: accept]
        if (can_accept) {
            std::string name;
            for (int k = 0; k < 64; ++k) { // bounded; the listener is reported again if more wait
                int fd = accept_client(listener, spare, &name);
                if (fd < 0) break;
                if (!watch(epfd, fd, EPOLLIN)) {
                    close(fd);
                    continue;
                }
                IOLADDER_LOG("%s: accepted as fd %d", name.c_str(), fd);
                Connection& c = conns.try_emplace(fd, fd, name).first->second;
                c.registered = EPOLLIN;
            }
        }
        // [/snippet]
    }

    // Shutting down: one non-blocking attempt to send what is pending, then close.
    for (auto& [fd, c] : conns) {
        write_output(c);
        close(fd);
    }
    close(listener);
    close(epfd);
    IOLADDER_LOG("shut down");
    return 0;
}
