// sys/event.h for Linux: the teaching layer of chapter 04.
//
// Linux has no kqueue. This header and kqueue_epoll.cpp give the chapter's
// programs the part of the BSD/macOS API they use, built on epoll, eventfd
// and timerfd, so the same sources build here and natively. CMake puts this
// folder on the include path only where <sys/event.h> is missing; on macOS
// and FreeBSD the programs get the real one. Names and numbers follow
// FreeBSD's header. How each piece maps, in short:
//
//   kqueue()                    epoll_create1(EPOLL_CLOEXEC)
//   kevent(changes, events)     one epoll_ctl per change, then epoll_wait
//   EVFILT_READ / EVFILT_WRITE  EPOLLIN|EPOLLRDHUP|EPOLLPRI / EPOLLOUT, in one
//                               registration per descriptor (epoll has one)
//   EV_CLEAR                    EPOLLET
//   EV_ONESHOT                  EPOLLONESHOT when every filter of the
//                               descriptor is oneshot; otherwise the layer
//                               removes the filter after delivering it
//   EVFILT_USER                 an eventfd; NOTE_TRIGGER writes 1 to it
//   EVFILT_TIMER                a timerfd; its count is read into `data`
//   EV_EOF, fflags              EPOLLRDHUP/EPOLLHUP; the error from SO_ERROR
//
// What it does NOT model (a change that asks for it fails with EINVAL, in
// EV_ERROR like any other error, unless said otherwise):
//   - Filters other than the four above (EVFILT_SIGNAL, EVFILT_PROC,
//     EVFILT_VNODE, EVFILT_AIO, ...), EV_DISPATCH, NOTE_LOWAT, NOTE_ABSTIME,
//     and EV_ENABLE/EV_DISABLE on EVFILT_USER and EVFILT_TIMER.
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
//   - Timeouts are rounded up to whole milliseconds. A kqueue is inherited
//     by fork() children here; it is not on BSD.
//   - One epoll report can become two kevents (read and write), so one call
//     hands out at most about nevents / 2 epoll reports.
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
#define EV_ENABLE 0x0004   // report it again
#define EV_DISABLE 0x0008  // keep it but do not report it
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

// EVFILT_TIMER units for `data` (milliseconds when none is given)
#define NOTE_SECONDS 0x00000001
#define NOTE_MSECONDS 0x00000002
#define NOTE_USECONDS 0x00000004
#define NOTE_NSECONDS 0x00000008

extern "C" {
int kqueue(void);
int kevent(int kq, const struct kevent* changelist, int nchanges, struct kevent* eventlist,
           int nevents, const struct timespec* timeout);
}
