// sys/event.h for Linux: the teaching layer of chapter 04.
//
// Linux has no kqueue. This header and kqueue_epoll.cpp give the chapter's
// programs the part of the BSD/macOS API they use, on epoll, eventfd and
// timerfd, so the same sources build here and natively. CMake puts this
// folder on the include path only where <sys/event.h> is missing. Names and
// numbers follow FreeBSD's header; book/04-kqueue.md has the mapping table.
//
// What it does NOT model (a change that asks for it fails with EINVAL, in
// EV_ERROR like any other error, unless said otherwise):
//   - Filters other than EVFILT_READ, EVFILT_WRITE, EVFILT_USER and
//     EVFILT_TIMER (no EVFILT_SIGNAL, EVFILT_PROC, EVFILT_VNODE, ...);
//     EV_ENABLE, EV_DISABLE, EV_DISPATCH; NOTE_LOWAT; timer units other than
//     milliseconds (NOTE_SECONDS and the rest are not even defined).
//   - A descriptor whose read and write filters disagree on EV_CLEAR: epoll's
//     EPOLLET covers the whole registration, kqueue's EV_CLEAR one filter.
//   - `data` where only another system call could tell it. EVFILT_READ
//     counts the bytes waiting (FIONREAD) only when it also reports EV_EOF;
//     otherwise it is 0, which here means "not counted" (kqueue would give
//     the byte count, or a listener's backlog). At a TCP urgent mark Linux
//     cannot count past the mark, so `data` is INT64_MAX: "read to EAGAIN".
//     EVFILT_WRITE's `data` (room in the send buffer) is always 0.
//   - The error in `fflags` comes from getsockopt(SO_ERROR), which on Linux
//     also clears it: the next recv() returns 0 instead of the error.
//   - close(kq) closes the epoll instance, but the layer cannot see it: the
//     eventfds and timerfds it made stay open until their EV_DELETE, until
//     kqueue() returns the same number again, or until the program exits.
//   - Likewise close(fd) of a watched descriptor: epoll drops the
//     registration, and the layer forgets the filters the next time a
//     change names that number. If the descriptor was duplicated (dup(),
//     fork()), epoll keeps the registration (epoll(7), Q6); the layer then
//     ignores its reports, but cannot remove it.
//   - Timeouts are rounded up to whole milliseconds, and a kevent() with a
//     timeout may return 0 early when every report was for a registration
//     changed since. A kqueue is inherited by fork() here; not on BSD.
//   - One epoll report can become two kevents (read and write), so one call
//     hands out at most nevents / 2 epoll reports.
// kevent() may be called from several threads at once (one lock, not held
// while waiting), which is what an EVFILT_USER waker needs.
#pragma once

#include <cstdint>
#include <ctime>

// [snippet: struct-kevent]
struct kevent {
    uintptr_t ident;      // a descriptor, or a number naming a user event or timer
    short filter;         // EVFILT_*
    unsigned short flags; // EV_*: what to do (in), what happened (out)
    unsigned int fflags;  // filter flags: NOTE_* (in), the socket error or user flags (out)
    int64_t data;         // filter data: a timer's period (in), counts (out)
    void* udata;          // the caller's, handed back unchanged with every event
};
// [/snippet]

#define EV_SET(kevp, a, b, c, d, e, f)                                                             \
    do {                                                                                           \
        struct kevent* ev_set_ = (kevp);                                                           \
        ev_set_->ident = (a);                                                                      \
        ev_set_->filter = (b);                                                                     \
        ev_set_->flags = (c);                                                                      \
        ev_set_->fflags = (d);                                                                     \
        ev_set_->data = (e);                                                                       \
        ev_set_->udata = (f);                                                                      \
    } while (0)

// Filters.
#define EVFILT_READ (-1)
#define EVFILT_WRITE (-2)
#define EVFILT_TIMER (-7)
#define EVFILT_USER (-11)

// Actions and flags.
#define EV_ADD 0x0001      // add the filter, or change it if it exists
#define EV_DELETE 0x0002   // remove it (ENOENT if there is none)
#define EV_ENABLE 0x0004   // (not modelled)
#define EV_DISABLE 0x0008  // (not modelled)
#define EV_ONESHOT 0x0010  // deliver once, then delete
#define EV_CLEAR 0x0020    // reset the state after delivery: edge triggering
#define EV_RECEIPT 0x0040  // always answer this change with an EV_ERROR event
#define EV_DISPATCH 0x0080 // (not modelled)
#define EV_ERROR 0x4000    // out: a change's result; `data` is its errno (0: done)
#define EV_EOF 0x8000      // out: the peer shut its side; `fflags` may hold an error

// EVFILT_USER
#define NOTE_FFNOP 0x00000000
#define NOTE_FFAND 0x40000000
#define NOTE_FFOR 0x80000000
#define NOTE_FFCOPY 0xc0000000
#define NOTE_FFCTRLMASK 0xc0000000
#define NOTE_FFLAGSMASK 0x00ffffff
#define NOTE_TRIGGER 0x01000000

// EVFILT_TIMER: `data` is in milliseconds (the default; no other unit here)
#define NOTE_MSECONDS 0x00000002

extern "C" {
int kqueue(void);
int kevent(int kq, const struct kevent* changelist, int nchanges, struct kevent* eventlist,
           int nevents, const struct timespec* timeout);
}
