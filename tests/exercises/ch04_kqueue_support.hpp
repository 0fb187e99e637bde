// ch04_kqueue_support.hpp: a kqueue, socket pairs and kevent() helpers for
// the chapter 04 exercise tests. On Linux <sys/event.h> is the chapter's
// teaching layer; on macOS and FreeBSD the real one.
#pragma once

#include "posix_compat.hpp" // before support.hpp: SOCK_NONBLOCK where missing (macOS)
#include "support.hpp"

#include <cstring>
#include <fcntl.h>
#include <sys/event.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <vector>

namespace ioladder::test {

inline Fd new_kqueue() {
    Fd kq(::kqueue());
    if (kq.get() < 0) fail_errno("kqueue");
    return kq;
}

// A connected AF_UNIX stream pair; `a` non-blocking (the side under test).
struct StreamPair {
    Fd a, b;
    StreamPair() {
        int sv[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) fail_errno("socketpair");
        a = Fd(sv[0]);
        b = Fd(sv[1]);
        if (::fcntl(a.get(), F_SETFL, O_NONBLOCK) < 0) fail_errno("fcntl O_NONBLOCK");
    }
    void say(const std::string& text) const {
        if (::write(b.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
            fail_errno("write");
    }
};

inline struct kevent change(uintptr_t ident, short filter, unsigned short flags,
                            void* udata = nullptr, unsigned fflags = 0, int64_t data = 0) {
    struct kevent c;
    EV_SET(&c, ident, filter, flags, fflags, data, udata);
    return c;
}

// The events one kevent() returns for `changes`, waiting at most `ms`.
inline std::vector<struct kevent> kevent_call(int kq, const std::vector<struct kevent>& changes,
                                              int ms = 0, int room = 64) {
    std::vector<struct kevent> out(static_cast<std::size_t>(room));
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    int n = ::kevent(kq, changes.data(), static_cast<int>(changes.size()), out.data(), room, &ts);
    if (n < 0) fail_errno("kevent");
    out.resize(static_cast<std::size_t>(n));
    return out;
}

inline int count_events(const std::vector<struct kevent>& evs, uintptr_t ident, short filter,
                        unsigned short with = 0) {
    int n = 0;
    for (const auto& e : evs)
        n += e.ident == ident && e.filter == filter && (e.flags & with) == with;
    return n;
}

} // namespace ioladder::test
