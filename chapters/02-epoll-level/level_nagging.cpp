// level_nagging.cpp: level-triggered epoll "nags". A socket with unread data
// is reported by every epoll_wait() until the data is read; with EPOLLET it
// is reported once per arrival.
//
// What it does
//   One connected pair of sockets. Six bytes are written into one end and the
//   other end is registered with epoll. Then epoll_wait() is called N times
//   (timeout 0: ask, never sleep) without reading, and the program counts how
//   many of those calls reported the socket. It prints, for N = 10:
//
//     level-triggered, 6 bytes unread: reported 10 of 10 waits
//     level-triggered, after reading them: reported 0 of 10 waits
//     edge-triggered, 6 bytes unread: reported 1 of 10 waits
//     edge-triggered, 6 more bytes arrive: reported 1 of 10 waits
//
//   Level-triggered readiness is a state ("there is data"), so it is reported
//   as long as it holds. Edge-triggered readiness is a change ("data
//   arrived"): reported once, and again only when more arrives. Chapter 03
//   builds servers on the edge-triggered contract.
//
// clang-format off
// Run it
//   ./build/default/chapters/02-epoll-level/level_nagging       (--waits N for another count)
//   strace -e trace=epoll_ctl,epoll_wait,read,write ./build/default/chapters/02-epoll-level/level_nagging --waits 3
// clang-format on
//
// Left out on purpose: TCP (an AF_UNIX pair behaves the same here and needs
// no port), several threads on one epoll (chapter 03's EPOLLONESHOT).
#include "log.hpp"
#include "options.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace ioladder;

namespace {

// [snippet: count-reports]
// Calls epoll_wait() `waits` times without touching the socket and returns
// how many of those calls reported `fd`.
int count_reports(int epfd, int fd, int waits) {
    int reports = 0;
    for (int i = 0; i < waits; ++i) {
        epoll_event ev[4];
        int n = epoll_wait(epfd, ev, 4, 0); // timeout 0: report what is ready now
        if (n < 0) {
            if (errno == EINTR) { // a signal: this wait did not happen, ask again
                --i;
                continue;
            }
            die("epoll_wait");
        }
        for (int k = 0; k < n; ++k)
            if (ev[k].data.fd == fd) ++reports;
    }
    return reports;
}
// [/snippet]

int watching(int fd, uint32_t events) {
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) die("epoll_create1");
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl ADD");
    return epfd;
}

void send_bytes(int fd, const char* text) {
    if (write(fd, text, std::strlen(text)) != static_cast<ssize_t>(std::strlen(text))) die("write");
}

// Reads everything waiting on the non-blocking fd; returns how many bytes.
long drain(int fd) {
    long total = 0;
    char buf[256];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n > 0) {
            total += n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            die("read");
        } else {
            return total; // EAGAIN: drained (0, EOF, cannot happen: we keep the writer open)
        }
    }
}

void print_round(const char* what, int reports, int waits) {
    std::printf("%s: reported %d of %d waits\n", what, reports, waits);
}

} // namespace

int main(int argc, char** argv) {
    long waits_option = 10;
    parse_args(argc, argv,
               "Counts how often epoll_wait() reports a socket whose data is not read,\n"
               "level-triggered and then edge-triggered.",
               {Option::Number("--waits", "N", &waits_option, 1, 1000000,
                               "epoll_wait() calls per round (default 10)")});
    const int waits = static_cast<int>(waits_option);

    int sv[2]; // sv[0] writes, sv[1] is watched
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        die("socketpair");

    // [snippet: level]
    int lt = watching(sv[1], EPOLLIN); // level-triggered: the default
    send_bytes(sv[0], "hello\n");
    print_round("level-triggered, 6 bytes unread", count_reports(lt, sv[1], waits), waits);
    drain(sv[1]);
    print_round("level-triggered, after reading them", count_reports(lt, sv[1], waits), waits);
    close(lt);
    // [/snippet]

    // [snippet: edge]
    int et = watching(sv[1], EPOLLIN | EPOLLET);
    send_bytes(sv[0], "hello\n");
    print_round("edge-triggered, 6 bytes unread", count_reports(et, sv[1], waits), waits);
    send_bytes(sv[0], "again\n");
    print_round("edge-triggered, 6 more bytes arrive", count_reports(et, sv[1], waits), waits);
    close(et);
    // [/snippet]

    drain(sv[1]);
    close(sv[0]);
    close(sv[1]);
    return 0;
}
