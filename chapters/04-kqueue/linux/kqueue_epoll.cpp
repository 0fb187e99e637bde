// kqueue_epoll.cpp: kqueue() and kevent() on epoll, eventfd and timerfd, for
// Linux. sys/event.h lists what it leaves out; book/04-kqueue.md maps it.
//
// Per kqueue the layer keeps what epoll cannot hold: a descriptor's two
// filters (epoll has one registration per descriptor), each with its flags
// and udata, and the eventfd or timerfd behind each user event and timer.
// A change costs at most one epoll_ctl, none when epoll already has what it
// asks for or the answer is known (EV_DELETE of a filter never added).
#include <sys/event.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <map>
#include <mutex>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <unordered_map>
#include <utility>

namespace {

constexpr unsigned short kKept = EV_CLEAR | EV_ONESHOT | EV_RECEIPT; // reported back

struct Filter { // one (ident, filter) kevent, as the caller made it
    bool added = false;
    unsigned short flags = 0; // kKept bits
    unsigned fflags = 0;      // EVFILT_USER: the caller's 24 bits
    void* udata = nullptr;
};

// What one epoll registration stands for, by the descriptor epoll watches: a
// caller's descriptor (read and write filter), or the eventfd or timerfd the
// layer made for one EVFILT_USER or EVFILT_TIMER (its filter in `read`).
struct Watch {
    short kind = 0;      // 0: the caller's descriptor; else EVFILT_USER or EVFILT_TIMER
    uintptr_t ident = 0; // USER, TIMER: the caller's number for it
    uint32_t gen = 0;    // in data.u64 beside the fd: reports for an older registration are dropped
    uint32_t mask = 0;   // what epoll watches now; 0 also after an EPOLLONESHOT report
    bool in_epoll = false;
    Filter read, write;
};

struct Queue {
    uint32_t next_gen = 1;
    std::unordered_map<int, Watch> watches;           // by watched descriptor
    std::map<std::pair<short, uintptr_t>, int> named; // (EVFILT_USER/TIMER, ident) -> fd
};

void close_made(Queue& q) { // the layer's own descriptors (see sys/event.h)
    for (auto& [name, fd] : q.named)
        close(fd);
    q.named.clear();
}

struct Registry {
    std::mutex lock;
    std::unordered_map<int, Queue> queues; // by the kqueue's descriptor (the epoll instance)
    ~Registry() {
        for (auto& [kq, q] : queues)
            close_made(q);
    }
} g;

int ctl(int kq, int op, int fd, const Watch& w, uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = (uint64_t{w.gen} << 32) | static_cast<uint32_t>(fd);
    return epoll_ctl(kq, op, fd, &ev) < 0 ? errno : 0;
}

// [snippet: wanted]
// The one epoll registration that stands for a watch's filters. EPOLLET and
// EPOLLONESHOT cover the whole registration, so they are set only when every
// filter asks for EV_CLEAR or EV_ONESHOT.
uint32_t wanted(const Watch& w) {
    const uint32_t in = EPOLLIN, et = EPOLLET;
    if (w.kind != 0 && !w.read.added) return 0;
    if (w.kind == EVFILT_USER) return in | (w.read.flags & EV_CLEAR ? et : 0); // never read
    if (w.kind == EVFILT_TIMER) return in; // read at every report
    uint32_t ev = 0;
    unsigned short all = EV_CLEAR | EV_ONESHOT;
    if (w.read.added) ev |= in | EPOLLRDHUP | EPOLLPRI, all &= w.read.flags;
    if (w.write.added) ev |= EPOLLOUT, all &= w.write.flags;
    if (ev && (all & EV_CLEAR)) ev |= et;
    if (ev && (all & EV_ONESHOT)) ev |= EPOLLONESHOT;
    return ev;
}
// [/snippet]

// Brings epoll in line with the watch: at most one epoll_ctl; `force` asks
// even when nothing changed (which re-arms an edge or a oneshot).
int sync(int kq, int fd, Watch& w, bool force) {
    uint32_t want = wanted(w);
    int err = 0;
    if (want == 0 && w.in_epoll && w.mask != 0) // (mask 0: a fired oneshot, disabled already)
        err = ctl(kq, EPOLL_CTL_DEL, fd, w, 0);
    else if (want != 0 && !w.in_epoll)
        err = ctl(kq, EPOLL_CTL_ADD, fd, w, want);
    else if (want != 0 && (want != w.mask || force))
        err = ctl(kq, EPOLL_CTL_MOD, fd, w, want);
    if (err) return err;
    w.in_epoll = want != 0 || (w.in_epoll && w.mask == 0);
    w.mask = want;
    return 0;
}

void set_filter(Filter& f, const struct kevent& c) {
    f.added = true;
    f.flags = c.flags & kKept;
    f.udata = c.udata;
}

// [snippet: change-fd]
// EVFILT_READ or EVFILT_WRITE on a caller's descriptor.
int change_fd(int kq, Queue& q, const struct kevent& c) {
    if (c.ident > INT_MAX) return EBADF;
    const int fd = static_cast<int>(c.ident);
    const bool reading = c.filter == EVFILT_READ;
    auto [it, is_new] = q.watches.try_emplace(fd);
    Watch& w = it->second;
    if (is_new) w.gen = q.next_gen++;
    if (w.kind != 0) return EINVAL; // the layer's own eventfd or timerfd
    // Adding a filter the table already holds most often means the number
    // was closed (kqueue forgot its filters then; the layer learns it now)
    // and has come back: try it as a new registration. EEXIST says it is the
    // same descriptor after all, and this is a change.
    if ((c.flags & EV_ADD) && (reading ? w.read : w.write).added && w.in_epoll) {
        Watch fresh;
        fresh.gen = q.next_gen++;
        set_filter(reading ? fresh.read : fresh.write, c);
        int err = sync(kq, fd, fresh, false);
        if (err != EEXIST) {
            if (!err) w = fresh;
            return err;
        }
    }
    const Watch before = w;
    Filter& f = reading ? w.read : w.write;
    const Filter& other = reading ? w.write : w.read;
    if (!f.added && !(c.flags & EV_ADD)) return ENOENT; // kqueue(2): "could not be found"
    if (c.flags & EV_DELETE) f = Filter{};
    if (c.flags & EV_ADD) set_filter(f, c);
    if (other.added && f.added && ((other.flags ^ f.flags) & EV_CLEAR)) {
        w = before; // one EPOLLET for both filters: epoll cannot mix them
        return EINVAL;
    }
    int err = sync(kq, fd, w, c.flags & EV_ADD);
    if (err == ENOENT || err == EBADF) {
        // epoll has nothing for this descriptor: it was closed, with every
        // filter the table remembers. EBADF: still closed. ENOENT: the number
        // is open again, with nothing registered.
        Filter mine = f;
        q.watches.erase(fd);
        if (err == EBADF || !(c.flags & EV_ADD)) return err;
        Watch& again = q.watches[fd];
        again.gen = q.next_gen++;
        (reading ? again.read : again.write) = mine;
        return sync(kq, fd, again, false);
    }
    if (err) w = before; // ENOMEM, ENOSPC: epoll kept the old registration
    return err;
}
// [/snippet]

void forget(Queue& q, std::map<std::pair<short, uintptr_t>, int>::iterator it) {
    close(it->second); // the only copy: closing it also takes it out of epoll
    q.watches.erase(it->second);
    q.named.erase(it);
}

// [snippet: trigger]
// NOTE_TRIGGER: one write to the eventfd. With EV_CLEAR it is registered
// with EPOLLET and never read (chapter 03's waker): every trigger is an edge,
// and the triggers before the next kevent() coalesce into one event.
int trigger(int fd) {
    const uint64_t one = 1;
    while (write(fd, &one, sizeof one) < 0) {
        if (errno != EAGAIN) return errno;
        uint64_t count; // the counter is full: empty it, then add again
        [[maybe_unused]] ssize_t n = read(fd, &count, sizeof count);
    }
    return 0;
}
// [/snippet]

// EVFILT_USER or EVFILT_TIMER: a descriptor the layer makes and owns.
int change_named(int kq, Queue& q, const struct kevent& c) {
    auto it = q.named.find({c.filter, c.ident});
    if (c.flags & EV_DELETE) {
        if (it == q.named.end()) return ENOENT;
        forget(q, it);
        return 0;
    }
    const bool made = it == q.named.end();
    if (made) {
        if (!(c.flags & EV_ADD)) return ENOENT;
        int fd = c.filter == EVFILT_USER
                     ? eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)
                     : timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (fd < 0) return errno;
        Watch& w = q.watches[fd] = Watch{};
        w.kind = c.filter;
        w.ident = c.ident;
        w.gen = q.next_gen++;
        it = q.named.emplace(std::make_pair(c.filter, c.ident), fd).first;
    }
    const int fd = it->second;
    Watch& w = q.watches[fd];
    int err = 0;
    if ((c.flags & EV_ADD) && c.filter == EVFILT_TIMER) {
        if (c.data < 0 || (c.fflags & ~NOTE_MSECONDS)) return EINVAL;          // milliseconds only
        int64_t ms = std::max<int64_t>(1, std::min<int64_t>(c.data, INT_MAX)); // 0 disarms
        itimerspec its{};
        its.it_value = {static_cast<time_t>(ms / 1000), static_cast<long>(ms % 1000) * 1000000};
        if (!(c.flags & EV_ONESHOT)) its.it_interval = its.it_value; // periodic otherwise
        if (timerfd_settime(fd, 0, &its, nullptr) < 0) err = errno;
    }
    if (!err && (c.flags & EV_ADD)) {
        set_filter(w.read, c);
        if (c.filter == EVFILT_TIMER) w.read.flags |= EV_CLEAR; // a count, reset when read
        err = sync(kq, fd, w, false);
    }
    if (!err && c.filter == EVFILT_USER) {
        const unsigned op = c.fflags & NOTE_FFCTRLMASK, v = c.fflags & NOTE_FFLAGSMASK;
        if (op == NOTE_FFAND) w.read.fflags &= v;
        if (op == NOTE_FFOR) w.read.fflags |= v;
        if (op == NOTE_FFCOPY) w.read.fflags = v;
        if (c.fflags & NOTE_TRIGGER) err = trigger(fd);
    }
    if (err && made) forget(q, it);
    return err;
}

int apply(int kq, Queue& q, const struct kevent& c) {
    if (c.flags & ~(EV_ADD | EV_DELETE | kKept)) return EINVAL; // EV_ENABLE, ...: not modelled
    if (c.filter == EVFILT_READ || c.filter == EVFILT_WRITE) return change_fd(kq, q, c);
    if (c.filter == EVFILT_USER || c.filter == EVFILT_TIMER) return change_named(kq, q, c);
    return EINVAL;
}

// [snippet: deliver]
// One epoll report as kevents (at most `room`): none if the registration
// has changed since, one or two for a descriptor (read, write).
int deliver(int kq, Queue& q, const epoll_event& e, struct kevent* out, int room) {
    const int fd = static_cast<int>(e.data.u64 & 0xffffffff);
    auto it = q.watches.find(fd);
    if (it == q.watches.end() || it->second.gen != e.data.u64 >> 32) return 0;
    Watch& w = it->second;
    if (w.kind != 0) {
        uint64_t count = 0; // EVFILT_TIMER: expirations since the last read
        if (w.kind == EVFILT_TIMER && read(fd, &count, sizeof count) != sizeof count) return 0;
        const Filter f = w.read;
        EV_SET(out, w.ident, w.kind, f.flags, f.fflags, static_cast<int64_t>(count), f.udata);
        if (f.flags & EV_CLEAR) w.read.fflags = 0; // reset once retrieved
        if (f.flags & EV_ONESHOT) forget(q, q.named.find({w.kind, w.ident}));
        return 1;
    }
    const uint32_t ev = e.events;
    const bool eof = ev & (EPOLLRDHUP | EPOLLHUP);
    int error = 0; // with EV_EOF, kqueue puts the socket error in fflags
    socklen_t len = sizeof error;
    if (eof && (ev & EPOLLERR)) getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len);
    int n = 0;
    bool fired = false, left_over = false;
    auto emit = [&](short filter, Filter& f, bool f_eof, int64_t data) {
        if (n == room) return void(left_over = true);
        EV_SET(&out[n++], fd, filter, f.flags | (f_eof ? EV_EOF : 0),
               static_cast<unsigned>(f_eof ? error : 0), data, f.udata);
        if (f.flags & EV_ONESHOT) f = Filter{}, fired = true; // delivered once: deleted
    };
    if (w.read.added && (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR | EPOLLPRI))) {
        int64_t data = 0; // "not counted": it would take another system call
        int waiting = 0;
        if (eof && ioctl(fd, FIONREAD, &waiting) == 0)
            data = waiting; // the bytes before the FIN
        else if (ev & EPOLLPRI)
            data = INT64_MAX; // an urgent mark: FIONREAD stops there, so read to EAGAIN
        emit(EVFILT_READ, w.read, eof, data);
    }
    if (w.write.added && (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)))
        emit(EVFILT_WRITE, w.write, ev & EPOLLHUP, 0);
    if (w.mask & EPOLLONESHOT) w.mask = 0; // epoll disabled it as it reported it
    // A oneshot filter went, a fired EPOLLONESHOT registration may have a
    // filter left to watch, or a filter did not fit in `out` (an edge comes
    // again only after a MOD).
    if (fired || left_over || w.mask == 0) sync(kq, fd, w, left_over && (w.mask & EPOLLET));
    return n;
}
// [/snippet]

} // namespace

extern "C" int kqueue(void) {
    int kq = epoll_create1(EPOLL_CLOEXEC);
    if (kq < 0) return -1;
    std::lock_guard<std::mutex> hold(g.lock);
    auto [it, is_new] = g.queues.try_emplace(kq);
    if (!is_new) { // the number of a kqueue that was closed: what it had is gone
        close_made(it->second);
        it->second = Queue{};
    }
    return kq;
}

// [snippet: kevent]
extern "C" int kevent(int kq, const struct kevent* changelist, int nchanges,
                      struct kevent* eventlist, int nevents, const struct timespec* timeout) {
    if (nchanges < 0 || nevents < 0 ||
        (timeout &&
         (timeout->tv_sec < 0 || timeout->tv_nsec < 0 || timeout->tv_nsec >= 1000000000L)))
        return errno = EINVAL, -1;
    // Changes first, in order. A failed change, or any with EV_RECEIPT, is
    // answered in the eventlist (EV_ERROR, the errno in data); kevent() then
    // returns those answers without waiting for events.
    int answers = 0;
    {
        std::lock_guard<std::mutex> hold(g.lock);
        auto qi = g.queues.find(kq);
        if (qi == g.queues.end()) return errno = EBADF, -1;
        for (int i = 0; i < nchanges; ++i) {
            struct kevent c = changelist[i]; // a copy: the two lists may be one array
            c.flags &= ~(EV_EOF | EV_ERROR);
            int err = apply(kq, qi->second, c);
            if (err == 0 && !(c.flags & EV_RECEIPT)) continue;
            if (nevents == 0) return errno = err, err ? -1 : 0; // no room: stop, as FreeBSD does
            c.flags = EV_ERROR;
            c.data = err;
            eventlist[answers++] = c;
            --nevents;
        }
    }
    if (answers > 0 || nevents == 0) return answers;
    // Then the events. One epoll report may become two kevents.
    epoll_event reports[64];
    const int most = std::min(64, std::max(1, nevents / 2));
    int ms = -1; // rounded up to whole milliseconds
    if (timeout)
        ms = static_cast<int>(std::min<int64_t>(timeout->tv_sec, INT_MAX / 1000 - 1) * 1000 +
                              (timeout->tv_nsec + 999999) / 1000000);
    for (;;) {
        int n = epoll_wait(kq, reports, most, ms);
        if (n < 0) return -1; // EINTR: the changes are applied, as kqueue(2) says
        int got = 0;
        {
            std::lock_guard<std::mutex> hold(g.lock);
            auto qi = g.queues.find(kq);
            for (int i = 0; qi != g.queues.end() && i < n; ++i)
                got += deliver(kq, qi->second, reports[i], eventlist + got, nevents - got);
        }
        // Every report was for a registration that has changed since: with no
        // timeout, wait again; with one, return early (0).
        if (got > 0 || n == 0 || timeout) return got;
    }
}
// [/snippet]
