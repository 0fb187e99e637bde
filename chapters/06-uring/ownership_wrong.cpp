// ownership_wrong.cpp: the seed's use-after-free, in C++. A recv's buffer is
// freed while the kernel still owns it; then data arrives, and the kernel
// writes it into memory that belongs to someone else by now.
//
// What it shows
//   In a reactor the buffer is ours again as soon as recv() returns. In a
//   proactor, a recv's buffer belongs to the kernel from submission until the
//   recv's CQE, and nothing in the language knows that. Here a Request (64
//   bytes, with the recv's buffer) is deleted while its recv is in flight, as
//   code does when it "gives up" on an operation (a timeout fired, the
//   connection object went away, the future was dropped). The next object of
//   the same size, a Session, gets the same memory from malloc. Then the
//   client sends "mallory", and:
//     - in a normal build, the kernel writes it into the Session: its user
//       name, "alice" a moment ago, is now "mallory";
//     - under AddressSanitizer (the asan preset), freed memory is kept in
//       quarantine, so the Session lands elsewhere; ASan cannot see the
//       kernel's write (no system call it watches), but it stops the program
//       where the completion handler reads the freed Request:
//       heap-use-after-free.
//   --safe runs the design the chapter's servers use: an operation in flight
//   owns its buffer. Giving up means submitting a cancel and waiting for the
//   recv's own CQE; the Request is freed only then (cancel_race shows why the
//   cancel's answer alone is not enough).
//
// It is wrong on purpose, so it is built only when asked for:
//   cmake --preset asan
//   cmake --build build/asan --target ownership_wrong
//   ./build/asan/chapters/06-uring/ownership_wrong
//   ./build/asan/chapters/06-uring/ownership_wrong --safe
//   cmake --build build/default --target ownership_wrong
//   ./build/default/chapters/06-uring/ownership_wrong
#include "log.hpp"
#include "options.hpp"
#include "ring.hpp"
#include "wait_cqes.hpp"

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <sys/socket.h>
#include <system_error>
#include <unistd.h>

using namespace ioladder;
using namespace ioladder::uring;

namespace {

struct Request { // a recv in flight, and the buffer it fills
    uint64_t id = 0, started_ns = 0;
    char data[48];
};
struct Session { // someone else's object, of the same size (64 bytes)
    uint64_t user_id = 0, expires_ns = 0;
    char name[48];
};

void submit_recv(Ring& ring, int fd, Request* req) {
    io_uring_sqe* s = ring.get_sqe();
    s->opcode = IORING_OP_RECV;
    s->fd = fd;
    s->addr = reinterpret_cast<uint64_t>(req->data);
    s->len = sizeof req->data;
    s->user_data = reinterpret_cast<uint64_t>(req);
    ring.submit();
}

// What any completion handler does: find the request from the CQE's
// user_data and use what the kernel put in it.
void on_recv(const io_uring_cqe& cqe) {
    auto* req = reinterpret_cast<Request*>(cqe.user_data);
    if (cqe.res < 0) {
        std::printf("recv ended: %s\n", std::strerror(-cqe.res));
        return;
    }
    std::string text(req->data, static_cast<size_t>(cqe.res)); // the wrong run dies here under ASan
    std::printf("received %d bytes: '%s'\n", cqe.res, text.c_str());
}

void report(const Session& session) {
    bool same = std::strcmp(session.name, "alice") == 0;
    std::printf("session name: '%s' (%s)\n", session.name, same ? "unchanged" : "was 'alice'");
}

// [snippet: wrong]
void wrong(Ring& ring, int fd, int peer) {
    auto* req = new Request;
    submit_recv(ring, fd, req); // the kernel owns req->data until the CQE
    auto where = reinterpret_cast<uintptr_t>(req);
    delete req; // BUG: "give up" on the request while its recv is in flight

    auto* session = new Session{};
    std::strcpy(session->name, "alice");
    std::printf("request was at %#lx, session is at %#lx%s\n", where,
                reinterpret_cast<uintptr_t>(session),
                where == reinterpret_cast<uintptr_t>(session) ? ": the same memory" : "");

    if (write(peer, "mallory", 7) != 7) die("write to the socketpair");
    for (const io_uring_cqe& cqe : wait_cqes(ring, 1))
        on_recv(cqe); // reads the freed Request
    report(*session);
    delete session;
}
// [/snippet]

// [snippet: safe]
// Every request in flight is owned here, by its user_data, until its CQE.
std::map<uint64_t, std::unique_ptr<Request>> in_flight;

void safe(Ring& ring, int fd, int peer) {
    auto req = std::make_unique<Request>();
    uint64_t tag = reinterpret_cast<uint64_t>(req.get());
    submit_recv(ring, fd, req.get());
    in_flight.emplace(tag, std::move(req));

    // Giving up: ask the kernel to stop. The Request stays alive.
    io_uring_sqe* s = ring.get_sqe();
    s->opcode = IORING_OP_ASYNC_CANCEL;
    s->addr = tag;
    s->user_data = 0; // the cancel's own CQE: nothing to free

    auto* session = new Session{};
    std::strcpy(session->name, "alice");
    if (write(peer, "mallory", 7) != 7) die("write to the socketpair");
    for (const io_uring_cqe& cqe : wait_cqes(ring, 2)) {
        if (cqe.user_data == 0) {
            std::string answer = cqe.res == 0 ? "0, the recv is stopped" : std::strerror(-cqe.res);
            if (cqe.res == -ENOENT) answer = "-ENOENT, the recv had completed";
            std::printf("cancel answered: %s\n", answer.c_str());
            continue;
        }
        on_recv(cqe);
        in_flight.erase(cqe.user_data); // the kernel is done with it: now it may go
    }
    std::printf("requests still owned by the kernel: %zu\n", in_flight.size());
    report(*session);
    delete session;
}
// [/snippet]

} // namespace

int main(int argc, char** argv) {
    bool use_safe = false;
    std::setvbuf(stdout, nullptr, _IOLBF, 0); // every line out before ASan stops us
    parse_args(argc, argv,
               "Frees a recv's buffer while the kernel owns it (a use-after-free, on purpose).",
               {Option::Flag("--safe", &use_safe,
                             "free the buffer only after the recv's CQE (the right way)")});
    std::unique_ptr<Ring> ring;
    try {
        ring = std::make_unique<Ring>(Ring::Setup{});
    } catch (const std::system_error& e) {
        std::fprintf(stderr, "%s: %s\n", g_program, unavailable_reason(e.code().value()).c_str());
        return 1;
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) die("socketpair");
    if (use_safe)
        safe(*ring, sv[0], sv[1]);
    else
        wrong(*ring, sv[0], sv[1]);
    return 0;
}
