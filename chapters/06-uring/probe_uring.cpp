// probe_uring.cpp: what this kernel's io_uring can do, and what chapter 06
// uses of it or falls back from.
//
// What it shows
//   - io_uring_setup(2) reports IORING_FEAT_* bits in io_uring_params.features:
//     printed by name.
//   - IORING_REGISTER_PROBE (io_uring_register(2), Linux 5.6) lists the
//     opcodes the kernel knows: the ones this chapter uses by name, the rest
//     as a count.
//   - Some abilities have no bit and no opcode of their own: multishot accept
//     (5.19) and multishot recv (6.0) are flags in an SQE, provided-buffer
//     rings (5.19) a register call. A kernel that lacks one says EINVAL when
//     it is used, so the probe uses each once: on a loopback listener and a
//     socketpair.
//   - Setup flags: a ring is made with IORING_SETUP_SQPOLL, and one with
//     IORING_SETUP_SINGLE_ISSUER|IORING_SETUP_DEFER_TASKRUN (6.1).
//
// Run it
//   ./build/default/chapters/06-uring/probe_uring
// Exit 0 after the report; 1, with the reason, when io_uring_setup fails
// (no io_uring in this kernel, kernel.io_uring_disabled, a seccomp filter).
// Each try waits at most a second.
#include "buffers.hpp"
#include "log.hpp"
#include "options.hpp"
#include "ring.hpp"
#include "wait_cqes.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <chrono>
#include <cstdio>
#include <memory>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <system_error>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace ioladder;
using namespace ioladder::uring;

namespace {

// Bits newer than this system's <linux/io_uring.h> are named by number.
const char* const kFeatureNames[] = {
    "SINGLE_MMAP", "NODROP",      "SUBMIT_STABLE",   "RW_CUR_POS",   "CUR_PERSONALITY",
    "FAST_POLL",   "POLL_32BITS", "SQPOLL_NONFIXED", "EXT_ARG",      "NATIVE_WORKERS",
    "RSRC_TAGS",   "CQE_SKIP",    "LINKED_FILE",     "REG_REG_RING", "RECVSEND_BUNDLE",
    "MIN_TIMEOUT", "RW_ATTR",     "NO_IOWAIT"};

struct UsedOp {
    unsigned op;
    const char* name;
    const char* role;
};
const UsedOp kUsedOps[] = {
    {IORING_OP_NOP, "NOP", "ring unit tests"},
    {IORING_OP_ACCEPT, "ACCEPT", "echo_tcp_uring: new connections"},
    {IORING_OP_RECV, "RECV", "echo_tcp_uring: reading"},
    {IORING_OP_RECVMSG, "RECVMSG", "echo_udp_uring: reading datagrams"},
    {IORING_OP_SEND, "SEND", "echo_tcp_uring: the echo of one buffer"},
    {IORING_OP_SENDMSG, "SENDMSG", "both servers: the echo (TCP: of several buffers)"},
    {IORING_OP_POLL_ADD, "POLL_ADD", "the shutdown pipe"},
    {IORING_OP_TIMEOUT, "TIMEOUT", "accept back-off, the shutdown limit"},
    {IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL", "closing connections, cancel_race"},
    {IORING_OP_OPENAT, "OPENAT", "cancel_race: an open that blocks"},
};

struct Outcome {
    bool ok = false;
    std::string detail;
};

std::unique_ptr<Ring> make_ring(unsigned flags, int* err) {
    Ring::Setup setup;
    setup.entries = 8;
    setup.flags = flags;
    setup.sq_idle_ms = 100;
    try {
        return std::make_unique<Ring>(setup);
    } catch (const std::system_error& e) {
        *err = e.code().value();
        return nullptr;
    }
}

std::string error_text(int res) {
    return std::to_string(res) + " (" + std::strerror(-res) + ")";
}

// [snippet: probe-opcodes]
// The kernel fills one io_uring_probe_op per opcode it knows (up to 256),
// with IO_URING_OP_SUPPORTED in flags for the ones it can run.
std::vector<bool> supported_opcodes(Ring& ring, unsigned* last_op) {
    static_assert(sizeof(io_uring_probe) == 16 && sizeof(io_uring_probe_op) == 8);
    std::vector<uint64_t> mem((16 + 256 * 8) / 8, 0); // must be zeroed: EINVAL otherwise
    auto* probe = reinterpret_cast<io_uring_probe*>(mem.data());
    if (sys_io_uring_register(ring.fd(), IORING_REGISTER_PROBE, probe, 256) < 0) return {};
    *last_op = probe->last_op;
    std::vector<bool> ok(256, false);
    for (unsigned i = 0; i < probe->ops_len; ++i)
        ok[probe->ops[i].op] = probe->ops[i].flags & IO_URING_OP_SUPPORTED;
    return ok;
}
// [/snippet]

// One ACCEPT SQE with IORING_ACCEPT_MULTISHOT, then two clients connect.
Outcome try_multishot_accept() {
    int err = 0;
    auto fresh = make_ring(0, &err);
    if (!fresh) return {false, "io_uring_setup: " + std::string(std::strerror(err))};
    Ring& ring = *fresh;
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (lfd < 0 || bind(lfd, reinterpret_cast<sockaddr*>(&addr), len) < 0 || listen(lfd, 8) < 0 ||
        getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len) < 0) {
        Outcome out{false, std::string("a loopback listener: ") + std::strerror(errno)};
        if (lfd >= 0) close(lfd);
        return out;
    }
    io_uring_sqe* s = ring.get_sqe();
    s->opcode = IORING_OP_ACCEPT;
    s->fd = lfd;
    s->accept_flags = SOCK_CLOEXEC;
    s->ioprio = IORING_ACCEPT_MULTISHOT;
    s->user_data = 1;
    ring.submit();
    int clients[2];
    for (int& c : clients) {
        c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        connect(c, reinterpret_cast<sockaddr*>(&addr), len);
    }
    std::vector<io_uring_cqe> got = wait_cqes(ring, 2);
    Outcome out{true, "2 connections from 1 SQE, IORING_CQE_F_MORE set"};
    if (got.size() < 2) out = {false, "fewer than 2 completions within a second"};
    for (const io_uring_cqe& c : got) {
        if (c.res >= 0) close(c.res);
        if (c.res < 0)
            out = {false, "accept ended with " + error_text(c.res)};
        else if (!(c.flags & IORING_CQE_F_MORE))
            out = {false, "the accept ended after 1"};
    }
    for (int c : clients)
        close(c);
    close(lfd);
    return out;
}

// [snippet: probe-multishot-recv]
// A buffer ring of 4 buffers, one multishot RECV on a socketpair, then 5
// writes, one at a time: 4 completions with IORING_CQE_F_MORE, each in the
// buffer the kernel picked, and a fifth that ends the recv with -ENOBUFS.
Outcome try_multishot_recv(Outcome* buffer_ring) {
    int err = 0;
    auto fresh = make_ring(0, &err);
    if (!fresh) return {false, "io_uring_setup: " + std::string(std::strerror(err))};
    Ring& ring = *fresh;
    Buffers buffers(4, 64); // declared after the ring: unregistered before it closes
    if (!buffers.provide_to_kernel(ring, 7)) {
        *buffer_ring = {false, std::string("IORING_REGISTER_PBUF_RING: ") + std::strerror(errno)};
        return {false, "needs a buffer ring"};
    }
    *buffer_ring = {true, "IORING_REGISTER_PBUF_RING, 4 buffers of 64 bytes"};
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return {false, std::string("socketpair: ") + std::strerror(errno)};
    io_uring_sqe* s = ring.get_sqe();
    s->opcode = IORING_OP_RECV;
    s->fd = sv[0];
    s->flags = IOSQE_BUFFER_SELECT;
    s->buf_group = 7;
    s->ioprio = IORING_RECV_MULTISHOT;
    s->user_data = 2;
    ring.submit();
    Outcome out{true, ""};
    std::string ids;
    for (int i = 0; i < 5 && out.ok; ++i) {
        if (write(sv[1], "x", 1) != 1) out = {false, "write to the socketpair failed"};
        std::vector<io_uring_cqe> got = wait_cqes(ring, 1);
        if (!out.ok || got.empty()) {
            out = {false, "no completion within a second"};
            break;
        }
        const io_uring_cqe& c = got[0];
        bool more = c.flags & IORING_CQE_F_MORE;
        if (i < 4 && c.res == 1 && more && (c.flags & IORING_CQE_F_BUFFER))
            ids += (ids.empty() ? "" : ",") + std::to_string(c.flags >> IORING_CQE_BUFFER_SHIFT);
        else if (i == 4 && c.res == -ENOBUFS && !more)
            out.detail = "4 CQEs from 1 SQE (buffers " + ids + "), then -ENOBUFS ended it";
        else
            out = {false, "completion " + std::to_string(i + 1) + ": res " +
                              (c.res < 0 ? error_text(c.res) : std::to_string(c.res)) +
                              (more ? ", more to come" : ", ended")};
    }
    close(sv[0]);
    close(sv[1]);
    return out;
}
// [/snippet]

// A NOP on a ring whose kernel thread polls the SQ: it completes without an
// io_uring_enter from us while the thread is awake.
Outcome try_sqpoll() {
    int err = 0;
    auto ring = make_ring(IORING_SETUP_SQPOLL, &err);
    if (!ring) return {false, "io_uring_setup: " + std::string(std::strerror(err))};
    io_uring_sqe* s = ring->get_sqe();
    s->opcode = IORING_OP_NOP;
    ring->submit();
    unsigned done = 0;
    for (int i = 0; i < 1000 && done == 0; ++i) { // up to a second, 1 ms at a time
        done = ring->for_each_cqe([](const io_uring_cqe&) {});
        if (!done) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (!done) return {false, "the NOP did not complete within a second"};
    long calls = ring->enter_calls();
    return {true, "a NOP completed with " + std::to_string(calls) + " io_uring_enter call" +
                      (calls == 1 ? " (to wake the kernel thread)" : "s from us")};
}

void row(const char* what, const Outcome& o) {
    std::printf("  %-28s %-3s  %s\n", what, o.ok ? "yes" : "no", o.detail.c_str());
}

} // namespace

int main(int argc, char** argv) {
    parse_args(argc, argv,
               "Prints what this kernel's io_uring offers and what chapter 06 uses of it.", {});
    int err = 0;
    auto ring = make_ring(0, &err);
    if (!ring) {
        std::fprintf(stderr, "%s: %s\n", g_program, unavailable_reason(err).c_str());
        return 1;
    }
    utsname u{};
    uname(&u);
    std::printf("io_uring on Linux %s: a ring of %u SQEs and %u CQEs\n", u.release,
                ring->sq_entries(), ring->cq_entries());

    std::printf("\nfeatures (IORING_FEAT_*):");
    for (unsigned bit = 0; bit < 32; ++bit) {
        if (!(ring->features() & (1u << bit))) continue;
        if (bit < std::size(kFeatureNames))
            std::printf(" %s", kFeatureNames[bit]);
        else
            std::printf(" bit%u", bit);
    }
    std::printf("\n");

    unsigned last_op = 0;
    std::vector<bool> ops = supported_opcodes(*ring, &last_op);
    if (ops.empty()) {
        std::printf("\nopcodes: IORING_REGISTER_PROBE failed (%s; it came in 5.6)\n",
                    std::strerror(errno));
    } else {
        std::printf("\nopcodes (IORING_REGISTER_PROBE, last_op %u), the ones chapter 06 uses:\n",
                    last_op);
        size_t all = std::count(ops.begin(), ops.end(), true), used = 0;
        for (const UsedOp& u : kUsedOps) {
            std::printf("  %-14s %-3s  %s\n", u.name, ops[u.op] ? "yes" : "NO", u.role);
            used += ops[u.op];
        }
        std::printf("  and %zu more: %zu supported in all\n", all - used, all);
    }

    std::printf("\ntried:\n");
    Outcome accept = try_multishot_accept();
    Outcome buffer_ring, recv = try_multishot_recv(&buffer_ring);
    Outcome sqpoll = try_sqpoll();
    auto defer = make_ring(IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, &err);
    Outcome defer_taskrun{defer != nullptr,
                          defer ? "io_uring_setup accepted the flags"
                                : "io_uring_setup: " + std::string(std::strerror(err))};
    row("multishot accept", accept);
    row("provided-buffer ring", buffer_ring);
    row("multishot recv", recv);
    row("SQPOLL", sqpoll);
    row("SINGLE_ISSUER|DEFER_TASKRUN", defer_taskrun);

    // [snippet: probe-verdict]
    std::printf("\nchapter 06 on this kernel:\n");
    bool nodrop = ring->features() & IORING_FEAT_NODROP;
    std::printf("  completions: %s\n",
                nodrop ? "none lost when the CQ is full (NODROP): the servers run"
                       : "lost when the CQ is full (no NODROP, before 5.5): the servers refuse "
                         "to run");
    bool multishot = accept.ok && recv.ok && buffer_ring.ok;
    std::printf("  echo_tcp_uring: %s\n",
                multishot ? "multishot accept and multishot recv from a buffer ring per "
                            "connection (--single-shot for the fallback)"
                          : "falls back to single-shot accept and recv into buffers it picks");
    std::printf("  echo_udp_uring: %s\n",
                recv.ok && buffer_ring.ok
                    ? "multishot recvmsg from a buffer ring of 64 slots (--single-shot for the "
                      "fallback)"
                    : "falls back to 8 single-shot recvmsg into slots it picks");
    std::printf("  ring flags: %s\n",
                defer_taskrun.ok ? "SINGLE_ISSUER|DEFER_TASKRUN (completions run only when the "
                                   "loop asks)"
                                 : "none (plain ring: before 6.1)");
    std::printf("  --sqpoll: %s\n", sqpoll.ok ? "works" : "not available here");
    // [/snippet]
    return 0;
}
