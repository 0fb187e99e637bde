// uring_server.hpp: what the chapter's two echo servers share around the
// ring: making it (or saying why not), tagging operations, a free SQE, the
// shutdown pipe as one more operation, and the submit-and-wait step with its
// errors. The servers themselves are echo_tcp_uring.cpp and echo_udp_uring.cpp.
#pragma once

#include "echo_common.hpp"
#include "ring.hpp"

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <poll.h>
#include <system_error>

namespace ioladder::uring {

// [snippet: tags]
// user_data is 64 bits the kernel copies from an SQE into its CQE, untouched.
// Ours hold the address of the object the operation belongs to (a
// connection, or the server), with the kind of operation in the low 3 bits,
// which are always 0 in an 8-byte aligned address.
enum Kind : uint64_t { kAccept = 1, kRecv, kSend, kStop, kTimer, kCancel };

inline uint64_t tag(const void* owner, Kind kind) {
    return reinterpret_cast<uint64_t>(owner) | kind;
}
inline Kind kind_of(uint64_t user_data) {
    return static_cast<Kind>(user_data & 7);
}
template <class T>
T* owner_of(uint64_t user_data) {
    return reinterpret_cast<T*>(user_data & ~uint64_t{7});
}
// [/snippet]

class UringLoop {
  public:
    // The ring for a server: SQPOLL when asked; otherwise single issuer with
    // deferred task work (6.1), which runs completions only when we ask for
    // them, in one batch; otherwise plain. Exits 1 with the reason when
    // io_uring is not there at all.
    UringLoop(const EchoServer& server, bool sqpoll) : ring_(make(sqpoll)) {
        const char* how = (ring_.flags() & IORING_SETUP_SQPOLL) ? "SQPOLL thread"
                          : (ring_.flags() & IORING_SETUP_DEFER_TASKRUN)
                              ? "single issuer, deferred task work"
                              : "plain";
        IOLADDER_LOG("ring: %u SQEs, %u CQEs, %s", ring_.sq_entries(), ring_.cq_entries(), how);
        if (!(ring_.features() & IORING_FEAT_NODROP)) {
            std::fprintf(stderr,
                         "%s: this kernel drops completions when the CQ is full "
                         "(no IORING_FEAT_NODROP, before 5.5); io_uring is too old here\n",
                         g_program);
            std::exit(1);
        }
        watch_shutdown(server.shutdown_fd());
    }

    Ring& ring() { return ring_; }

    // A free SQE. When the SQ is full, what is in it is submitted first.
    io_uring_sqe* sqe() {
        for (int tries = 0; tries < 100; ++tries) {
            if (io_uring_sqe* s = ring_.get_sqe()) return s;
            int r = ring_.submit();
            if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) fail(r);
        }
        fail(-EBUSY);
    }

    // [snippet: submit-and-wait]
    // Submits every SQE written since the last call, and sleeps until at
    // least one CQE is there. io_uring_enter(2): EINTR (a signal) and EAGAIN
    // or EBUSY (the kernel is short of memory, or holds completions that do
    // not fit) all mean "reap what is in the CQ, then call again"; the SQEs
    // stay in the ring and the next call submits them.
    void submit_and_wait() {
        int r = ring_.submit(1);
        if (r == -EINTR || r == -EAGAIN || r == -EBUSY) {
            ++retries_;
            return;
        }
        if (r < 0) fail(r);
    }
    // [/snippet]

    // [snippet: run]
    // The whole event loop of a proactor: submit, wait, hand each completion
    // to its owner, then let the server act on the batch as a whole. The
    // shutdown pipe's poll (tagged kStop) ends it.
    template <class OnCompletion, class AfterBatch>
    void run(OnCompletion&& on_completion, AfterBatch&& after_batch) {
        while (!stopping_) {
            submit_and_wait();
            ring_.for_each_cqe([&](const io_uring_cqe& cqe) {
                if (kind_of(cqe.user_data) == kStop)
                    stopping_ = true;
                else
                    on_completion(cqe);
            });
            after_batch();
        }
    }
    // [/snippet]
    long retries() const { return retries_; }

  private:
    static Ring make(bool sqpoll) {
        Ring::Setup s;
        s.entries = 1024;
        // An idle SQPOLL thread spins this long after the last submission,
        // then sleeps until the next io_uring_enter wakes it: short, so an
        // idle server does not burn a core.
        s.sq_idle_ms = 50;
        s.flags =
            sqpoll ? IORING_SETUP_SQPOLL : IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
        try {
            return Ring(s);
        } catch (const std::system_error& e) {
            if (e.code().value() != EINVAL || sqpoll) unavailable(e.code().value());
        }
        s.flags = 0; // a kernel before 6.1
        try {
            return Ring(s);
        } catch (const std::system_error& e) {
            unavailable(e.code().value());
        }
    }
    [[noreturn]] static void unavailable(int err) {
        std::fprintf(stderr, "%s: %s\n", g_program, unavailable_reason(err).c_str());
        std::exit(1);
    }
    [[noreturn]] static void fail(int r) {
        errno = -r;
        die("io_uring_enter");
    }
    void watch_shutdown(int fd) {
        io_uring_sqe* s = sqe();
        s->opcode = IORING_OP_POLL_ADD;
        s->fd = fd;
        s->poll32_events = POLLIN;
        s->user_data = tag(this, kStop);
    }

    Ring ring_;
    bool stopping_ = false;
    long retries_ = 0;
};

} // namespace ioladder::uring
