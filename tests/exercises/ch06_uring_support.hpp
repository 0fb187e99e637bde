// ch06_uring_support.hpp: what the chapter 06 exercise tests share.
//
//   IOLADDER_NEEDS_URING()     skips the test case, with the reason, where
//                              io_uring_setup fails (seccomp, sysctl, old kernel)
//   too_old(6, 0, "...")       the reason to skip on a kernel older than 6.0
//   no_multishot_recv(...)     the reason to skip a multishot receive, if any
//   collect(ring, n, ms)       reaps CQEs until n are in or ms have passed
//   stream_pair(), next_sqe()  an AF_UNIX stream pair; a free SQE
//   AccessLog                  records, in order, every access the code under
//                              test makes to a few pages of memory
#pragma once

#include "buffers.hpp" // chapters/06-uring/
#include "catch_compat.hpp"
#include "ring.hpp"
#include "support.hpp"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <optional>
#include <poll.h>
#include <string>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <system_error>
#include <ucontext.h>
#include <utility>
#include <vector>

namespace ioladder::test::uring {

using ioladder::uring::Buffers;
using ioladder::uring::Ring;

// Why no ring can be made here, or nothing when one can.
inline std::optional<std::string> unavailable() {
    try {
        Ring::Setup small;
        small.entries = 4;
        Ring ring(small);
    } catch (const std::system_error& e) {
        return ioladder::uring::unavailable_reason(e.code().value());
    }
    return std::nullopt;
}

// At the top of a test case's body (Catch2 2's skip returns from it).
#define IOLADDER_NEEDS_URING()                                                                     \
    if (auto why_ = ::ioladder::test::uring::unavailable()) IOLADDER_SKIP(*why_)

// The reason to skip when the running kernel is older than major.minor,
// which `what` needs; nothing when it is recent enough.
inline std::optional<std::string> too_old(int major, int minor, const std::string& what) {
    utsname u{};
    int have_major = 0, have_minor = 0;
    if (::uname(&u) == 0) std::sscanf(u.release, "%d.%d", &have_major, &have_minor);
    if (have_major > major || (have_major == major && have_minor >= minor)) return std::nullopt;
    return what + " needs Linux " + std::to_string(major) + "." + std::to_string(minor) +
           "; this kernel is " + u.release;
}

// Hands `buffers` to the kernel as buffer group `group` of `ring`; the
// reason a multishot receive from it cannot run here, or nothing.
inline std::optional<std::string> no_multishot_recv(Ring& ring, Buffers& buffers, uint16_t group) {
    if (auto why = too_old(6, 0, "a multishot receive")) return why;
    if (!buffers.provide_to_kernel(ring, group))
        return std::string("a provided-buffer ring (Linux 5.19): ") + std::strerror(errno);
    return std::nullopt;
}

// A connected AF_UNIX stream pair (blocking: the ring never blocks on it).
inline std::pair<Fd, Fd> stream_pair() {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) fail_errno("socketpair");
    return {Fd(sv[0]), Fd(sv[1])};
}

// A free SQE (zeroed), or a failed test.
inline io_uring_sqe* next_sqe(Ring& ring) {
    io_uring_sqe* s = ring.get_sqe();
    REQUIRE(s != nullptr);
    return s;
}

// Submits what is pending and reaps CQEs (copies) until `n` are in or `ms`
// milliseconds have passed; returns every CQE it reaped. Never blocks for
// longer: it sleeps in poll() on the ring's descriptor, which is readable
// while CQEs wait, in slices of at most 10 ms.
inline std::vector<io_uring_cqe> collect(Ring& ring, std::size_t n, int ms = 2000) {
    std::vector<io_uring_cqe> got;
    const auto deadline = Clock::now() + std::chrono::milliseconds(ms);
    for (;;) {
        int r = ring.submit();
        if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
            errno = -r;
            fail_errno("io_uring_enter");
        }
        ring.for_each_cqe([&](const io_uring_cqe& cqe) { got.push_back(cqe); });
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (got.size() >= n || left.count() <= 0) return got;
        wait_for(ring.fd(), POLLIN, static_cast<int>(std::min<long long>(left.count(), 10)));
    }
}

// The bytes a buffer holds, as a string, for comparisons.
inline std::string bytes(const void* p, std::size_t n) {
    return std::string(static_cast<const char*>(p), n);
}

// ---- AccessLog -------------------------------------------------------------
//
// Some mistakes leave no trace in the results of a single-threaded test: a
// consumer that frees ring slots before it has read them, a producer that
// publishes a tail before the entries behind it. They only show when the
// kernel, on another CPU, uses the memory in the moment between. AccessLog
// makes the order of the accesses visible instead. Each watched page is
// protected (PROT_NONE: every access faults; PROT_READ: every write
// faults). The SIGSEGV handler notes the access, opens the page and sets the
// CPU's trap flag; the access runs; one instruction later SIGTRAP's handler
// notes the page's watched value (a head or a tail) and closes the page
// again. This needs x86-64 (its trap flag); elsewhere `supported` is false.
// One AccessLog at a time, on the thread that makes the accesses.
class AccessLog {
  public:
    struct Page {
        void* start;                 // page aligned
        int prot;                    // PROT_NONE or PROT_READ while watched
        const void* value = nullptr; // a 16- or 32-bit value to note after each access
        unsigned value_bytes = 0;    // 2 or 4 (0: none)
    };
    struct Access {
        int page;           // index into the pages given
        std::size_t offset; // from the page's start
        bool write;
        uint32_t value; // the watched value just after the access
    };

#if defined(__x86_64__)
    static constexpr bool supported = true;

    explicit AccessLog(std::initializer_list<Page> pages) {
        State& s = state();
        s = State{};
        for (const Page& p : pages)
            s.pages[s.npages++] = p;
        struct sigaction sa {};
        sa.sa_flags = SA_SIGINFO;
        sigemptyset(&sa.sa_mask);
        sa.sa_sigaction = on_fault;
        ::sigaction(SIGSEGV, &sa, &s.old_segv);
        sa.sa_sigaction = on_step;
        ::sigaction(SIGTRAP, &sa, &s.old_trap);
        for (int i = 0; i < s.npages; ++i)
            ::mprotect(s.pages[i].start, page_size(), s.pages[i].prot);
    }
    ~AccessLog() {
        State& s = state();
        for (int i = 0; i < s.npages; ++i)
            ::mprotect(s.pages[i].start, page_size(), PROT_READ | PROT_WRITE);
        ::sigaction(SIGSEGV, &s.old_segv, nullptr);
        ::sigaction(SIGTRAP, &s.old_trap, nullptr);
    }
#else
    static constexpr bool supported = false;
    explicit AccessLog(std::initializer_list<Page>) {}
#endif
    AccessLog(const AccessLog&) = delete;
    AccessLog& operator=(const AccessLog&) = delete;

    std::vector<Access> accesses() const {
        const State& s = state();
        return std::vector<Access>(s.log, s.log + s.n);
    }
    bool overflowed() const {
        return state().overflowed;
    }

    // The page size on x86-64.
    static std::size_t page_size() {
        return 4096;
    }

  private:
    static constexpr int kMaxPages = 3, kMaxAccesses = 8192;
    struct State {
        Page pages[kMaxPages]{};
        int npages = 0;
        Access log[kMaxAccesses]{};
        int n = 0;
        bool overflowed = false;
        int open = -1; // the page opened for the instruction being stepped
        struct sigaction old_segv {};
        struct sigaction old_trap {};
    };
    static State& state() {
        static State s;
        return s;
    }

#if defined(__x86_64__)
    static constexpr long long kTrapFlag = 0x100; // EFLAGS.TF: trap after one instruction

    static void on_fault(int, siginfo_t* si, void* context) {
        State& s = state();
        auto* uc = static_cast<ucontext_t*>(context);
        auto addr = reinterpret_cast<uintptr_t>(si->si_addr);
        for (int i = 0; i < s.npages; ++i) {
            auto start = reinterpret_cast<uintptr_t>(s.pages[i].start);
            if (addr < start || addr >= start + page_size()) continue;
            if (s.n < kMaxAccesses) {
                bool write = (uc->uc_mcontext.gregs[REG_ERR] & 2) != 0; // page fault: W bit
                s.log[s.n] = Access{i, addr - start, write, 0};
            }
            ::mprotect(s.pages[i].start, page_size(), PROT_READ | PROT_WRITE);
            s.open = i;
            uc->uc_mcontext.gregs[REG_EFL] |= kTrapFlag;
            return;
        }
        // Not a watched page: a real crash. Let the previous handler have it
        // (the instruction faults again on return).
        ::sigaction(SIGSEGV, &s.old_segv, nullptr);
    }

    static void on_step(int, siginfo_t*, void* context) {
        State& s = state();
        auto* uc = static_cast<ucontext_t*>(context);
        uc->uc_mcontext.gregs[REG_EFL] &= ~kTrapFlag;
        if (s.open < 0) return;
        const Page& p = s.pages[s.open];
        if (s.n < kMaxAccesses) {
            uint32_t v = 0;
            if (p.value_bytes == 2) v = *static_cast<const volatile uint16_t*>(p.value);
            if (p.value_bytes == 4) v = *static_cast<const volatile uint32_t*>(p.value);
            s.log[s.n++].value = v;
        } else {
            s.overflowed = true;
        }
        ::mprotect(p.start, page_size(), p.prot);
        s.open = -1;
    }
#endif
};

// At the top of a test case that needs an AccessLog.
#define IOLADDER_NEEDS_ACCESS_LOG()                                                                \
    if (!::ioladder::test::uring::AccessLog::supported)                                            \
    IOLADDER_SKIP("watching the order of memory accesses needs x86-64 (its trap flag)")

} // namespace ioladder::test::uring
