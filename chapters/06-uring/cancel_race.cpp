// cancel_race.cpp: IORING_OP_ASYNC_CANCEL asks, it does not order.
//
// What it shows
//   In a reactor, cancelling is doing nothing: no read has started. Here the
//   kernel owns the operation, so we send it another operation, ASYNC_CANCEL,
//   naming the target by its user_data. Two CQEs always come back, the
//   target's and the cancel's, in no order a program may rely on
//   (io_uring_enter(2): completions are unordered; only linked operations
//   complete in order). The cancel's res says what happened
//   (io_uring_prep_cancel(3)):
//     0          found and stopped: the target ends with -ECANCELED
//     -ENOENT    nothing in flight has that user_data: the target had already
//                completed (its CQE carries its result), or never existed
//     -EALREADY  found, but already running in a kernel worker: it will end
//                by itself, interrupted or not, with a result of its own
//   So the target's memory (its buffer) stays the kernel's until the
//   target's own CQE, whatever the cancel says.
//
// The cases, each on a fresh ring
//   idle recv    a recv with nothing to read: cancel 0, recv -ECANCELED
//   unknown      a user_data nothing has: one CQE, the cancel's, -ENOENT
//   completed    a NOP and a cancel for it, in one batch: the NOP completes
//                while it is submitted, so the cancel finds nothing
//   data first   a byte arrives, then the cancel is submitted. On a plain
//                ring the recv completed during our write() (the kernel runs
//                completion work when a system call returns): recv 1, cancel
//                -ENOENT. With IORING_SETUP_DEFER_TASKRUN (6.1) that work
//                waits until we enter io_uring, after the cancel: cancel 0,
//                recv -ECANCELED, and the byte is still in the socket
//   running      an open of a FIFO nobody writes to, forced into a kernel
//                worker (IOSQE_ASYNC), where it blocks: cancel -EALREADY,
//                and the worker is interrupted
//   race         --tries times: a 50 µs timeout, and a cancel for it sent
//                about when it expires. Counted: who won, and which CQE came
//                first. When the timer has fired, either CQE may come first;
//                with --defer-taskrun the timeout's CQE waits for our next
//                io_uring_enter, so there the cancel's always comes first
//
// Run it
//   ./build/default/chapters/06-uring/cancel_race --tries 1000
// Exit 0 when every pair of CQEs was one of the allowed outcomes above; 1 if
// a CQE was missing (none within a second) or a result was not allowed.
#include "log.hpp"
#include "options.hpp"
#include "ring.hpp"
#include "wait_cqes.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fcntl.h>
#include <linux/time_types.h>
#include <memory>
#include <string>
#include <sys/socket.h>
#include <sys/stat.h>
#include <system_error>
#include <thread>
#include <unistd.h>

using namespace ioladder;
using namespace ioladder::uring;

namespace {

enum : uint64_t { kTarget = 1, kCancel = 2 };

std::unique_ptr<Ring> make_ring(unsigned flags) {
    Ring::Setup setup;
    setup.entries = 8;
    setup.flags = flags;
    return std::make_unique<Ring>(setup);
}

io_uring_sqe* recv_sqe(Ring& ring, int fd, char* buf) {
    io_uring_sqe* s = ring.get_sqe();
    s->opcode = IORING_OP_RECV;
    s->fd = fd;
    s->addr = reinterpret_cast<uint64_t>(buf);
    s->len = 1;
    s->user_data = kTarget;
    return s;
}

// [snippet: cancel-sqe]
void cancel_sqe(Ring& ring, uint64_t target) {
    io_uring_sqe* s = ring.get_sqe();
    s->opcode = IORING_OP_ASYNC_CANCEL;
    s->addr = target; // the user_data of the operation to cancel
    s->user_data = kCancel;
}
// [/snippet]

// The two CQEs of one cancellation, and which came first.
struct Pair {
    bool complete = false;
    int target = 0, cancel = 0;
    bool cancel_first = false;
};

Pair reap_pair(Ring& ring) {
    Pair p;
    std::vector<io_uring_cqe> got = wait_cqes(ring, 2);
    if (got.size() != 2 || got[0].user_data == got[1].user_data) return p;
    p.complete = true;
    p.cancel_first = got[0].user_data == kCancel;
    for (const io_uring_cqe& c : got)
        (c.user_data == kTarget ? p.target : p.cancel) = c.res;
    return p;
}

// [snippet: allowed]
// The outcomes io_uring allows for a cancelled operation that, left alone,
// ends with `finished` (1 for a recv of one byte, -ETIME for a timeout).
bool allowed(const Pair& p, int finished) {
    if (!p.complete) return false;
    switch (p.cancel) {
    case 0:
        return p.target == -ECANCELED; // stopped in time
    case -ENOENT:
        return p.target == finished; // it had completed
    case -EALREADY:                  // it was running: done, stopped, or interrupted
        return p.target == finished || p.target == -ECANCELED || p.target == -EINTR;
    default:
        return false;
    }
}
// [/snippet]

bool failed = false;

void report(const char* name, const Pair& p, bool ok, const char* meaning) {
    if (!p.complete) {
        std::printf("%-12s a CQE is missing: none within a second\n", name);
    } else {
        std::printf("%-12s cancel=%s target=%s first=%s%s\n", name, result_name(p.cancel).c_str(),
                    result_name(p.target).c_str(), p.cancel_first ? "cancel" : "target",
                    ok ? "" : "  NOT ALLOWED");
        std::printf("%-12s   %s\n", "", meaning);
    }
    failed = failed || !p.complete || !ok;
}

void idle_recv() {
    auto ring = make_ring(0);
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
    char buf[1];
    recv_sqe(*ring, sv[0], buf);
    ring->submit();
    cancel_sqe(*ring, kTarget);
    Pair p = reap_pair(*ring);
    report("idle recv:", p, p.cancel == 0 && p.target == -ECANCELED,
           "nothing to read: the recv was found waiting and stopped");
    close(sv[0]);
    close(sv[1]);
}

void unknown() {
    auto ring = make_ring(0);
    cancel_sqe(*ring, 12345);
    std::vector<io_uring_cqe> got = wait_cqes(*ring, 1);
    bool ok = got.size() == 1 && got[0].res == -ENOENT;
    std::printf("%-12s cancel=%s\n",
                "unknown:", got.empty() ? "missing" : result_name(got[0].res).c_str());
    std::printf("%-12s   nothing in flight has that user_data\n", "");
    failed = failed || !ok;
}

void completed() {
    auto ring = make_ring(0);
    io_uring_sqe* s = ring->get_sqe();
    s->opcode = IORING_OP_NOP;
    s->user_data = kTarget;
    cancel_sqe(*ring, kTarget);
    Pair p = reap_pair(*ring);
    report("completed:", p, p.cancel == -ENOENT && p.target == 0,
           "the NOP completed as it was submitted, before the cancel was looked at");
}

void data_first(unsigned flags, const char* name) {
    std::unique_ptr<Ring> ring;
    try {
        ring = make_ring(flags);
    } catch (const std::system_error& e) {
        std::printf("%-12s skipped: io_uring_setup: %s (DEFER_TASKRUN came in 6.1)\n", name,
                    e.code().message().c_str());
        return;
    }
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
    char buf[1];
    recv_sqe(*ring, sv[0], buf);
    ring->submit();
    if (write(sv[1], "x", 1) != 1) die("write to the socketpair");
    cancel_sqe(*ring, kTarget);
    Pair p = reap_pair(*ring);
    bool kept = recv(sv[0], buf, 1, MSG_DONTWAIT) == 1;
    bool ok = allowed(p, 1) && kept == (p.target == -ECANCELED);
    report(name, p, ok,
           p.target == 1 ? "the recv completed before the cancel was submitted"
                         : (kept ? "the cancel came first; the byte is still in the socket"
                                 : "the cancel came first, and the byte is gone"));
    close(sv[0]);
    close(sv[1]);
}

// [snippet: running]
void running() {
    auto ring = make_ring(0);
    std::string fifo = "/tmp/cancel_race." + std::to_string(getpid()) + ".fifo";
    if (mkfifo(fifo.c_str(), 0600) < 0) die("mkfifo");
    io_uring_sqe* s = ring->get_sqe();
    s->opcode = IORING_OP_OPENAT;
    s->fd = AT_FDCWD;
    s->addr = reinterpret_cast<uint64_t>(fifo.c_str());
    s->open_flags = O_RDONLY | O_CLOEXEC; // blocks until a writer opens the FIFO
    s->flags = IOSQE_ASYNC;               // in a kernel worker, from the start
    s->user_data = kTarget;
    ring->submit();
    std::this_thread::sleep_for(std::chrono::milliseconds(100)); // the worker is in open()
    cancel_sqe(*ring, kTarget);
    Pair p = reap_pair(*ring);
    if (!p.complete) { // the cancel did not end the open: a writer does
        int w = open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        wait_cqes(*ring, 1);
        if (w >= 0) close(w);
    }
    if (p.complete && p.target >= 0) close(p.target); // it opened after all
    unlink(fifo.c_str());
    bool ok = p.complete && ((p.cancel == 0 && p.target == -ECANCELED) ||
                             (p.cancel == -EALREADY && p.target != -ECANCELED));
    report("running:", p, ok,
           p.cancel == -EALREADY
               ? "the open was running in a worker: the kernel interrupted it, and it ended "
                 "with its own error"
               : "the worker had not started the open yet: it was stopped");
}
// [/snippet]

// [snippet: race]
// The target is a 50 µs timeout, so the kernel's timer races our cancel and
// no thread of ours takes part. The pause before the cancel adapts: 1 µs
// longer after a try the cancel won, 1 µs shorter after one the timer won.
// The tries gather where the two meet, and chance decides each one.
void race(long tries, unsigned flags) {
    auto ring = make_ring(flags);
    static const __kernel_timespec fifty_us{0, 50'000};
    long count[3][2] = {}; // [cancel 0, -ENOENT, -EALREADY][target first, cancel first]
    long bad = 0, pause_ns = 0;
    for (long i = 0; i < tries; ++i) {
        io_uring_sqe* s = ring->get_sqe();
        s->opcode = IORING_OP_TIMEOUT;
        s->addr = reinterpret_cast<uint64_t>(&fifty_us);
        s->len = 1;
        s->user_data = kTarget;
        ring->submit();
        auto until = std::chrono::steady_clock::now() + std::chrono::nanoseconds(pause_ns);
        while (std::chrono::steady_clock::now() < until) {
        }
        cancel_sqe(*ring, kTarget);
        Pair p = reap_pair(*ring);
        if (!allowed(p, -ETIME)) {
            ++bad;
            continue;
        }
        ++count[p.cancel == 0 ? 0 : p.cancel == -ENOENT ? 1 : 2][p.cancel_first];
        pause_ns = p.target == -ETIME ? std::max(0L, pause_ns - 1000) : pause_ns + 1000;
    }
    std::printf("race:        tries=%ld stopped=%ld completed=%ld already=%ld target_first=%ld "
                "cancel_first=%ld not_allowed=%ld pause_us=%ld\n",
                tries, count[0][0] + count[0][1], count[1][0] + count[1][1],
                count[2][0] + count[2][1], count[0][0] + count[1][0] + count[2][0],
                count[0][1] + count[1][1] + count[2][1], bad, pause_ns / 1000);
    std::printf("%-12s   %-30s %14s %14s\n", "", "", "target's first", "cancel's first");
    const char* rows[] = {"cancel 0 (timeout stopped)", "cancel -ENOENT (it had fired)",
                          "cancel -EALREADY (firing)"};
    for (int r = 0; r < 3; ++r)
        std::printf("%-12s   %-30s %14ld %14ld\n", "", rows[r], count[r][0], count[r][1]);
    failed = failed || bad > 0;
}
// [/snippet]

} // namespace

int main(int argc, char** argv) {
    long tries = 1000;
    bool defer = false;
    parse_args(argc, argv,
               "Cancels io_uring operations with IORING_OP_ASYNC_CANCEL and prints both CQEs.",
               {Option::Number("--tries", "N", &tries, 0, 1000000,
                               "rounds of the race between a timer and a cancel (default 1000)"),
                Option::Flag("--defer-taskrun", &defer,
                             "run the race on a SINGLE_ISSUER|DEFER_TASKRUN ring (6.1)")});
    try {
        make_ring(0);
    } catch (const std::system_error& e) {
        std::fprintf(stderr, "%s: %s\n", g_program, unavailable_reason(e.code().value()).c_str());
        return 1;
    }
    const unsigned kDefer = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    idle_recv();
    unknown();
    completed();
    data_first(0, "data first:");
    data_first(kDefer, "deferred:");
    running();
    if (tries > 0) {
        try {
            race(tries, defer ? kDefer : 0);
        } catch (const std::system_error& e) {
            std::printf("race:        skipped: %s\n", e.what());
        }
    }
    return failed ? 1 : 0;
}
