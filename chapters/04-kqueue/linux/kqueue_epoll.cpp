// kqueue_epoll.cpp: kqueue() and kevent() on epoll, eventfd and timerfd, for
// Linux. What it models and what it leaves out is listed in sys/event.h;
// book/04-kqueue.md has the mapping as a table.
//
// The layer keeps, per kqueue, what epoll cannot hold: the two filters of a
// descriptor (epoll has one registration per descriptor, kqueue one per
// filter), each filter's flags and udata, and the eventfd or timerfd behind
// each EVFILT_USER and EVFILT_TIMER. Each change costs at most one epoll_ctl
// (two only when a descriptor number was closed and reused and the first
// guess about it is wrong), or no call at all when epoll already watches
// what the change asks for, or when the answer is known without asking
// (EV_DELETE of a filter that was never added: ENOENT).
#include <sys/event.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
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

// The flags a filter keeps and hands back with its events.
constexpr unsigned short kKept = EV_CLEAR | EV_ONESHOT | EV_RECEIPT;
constexpr unsigned short kKnown = EV_ADD | EV_DELETE | EV_ENABLE | EV_DISABLE | kKept;

// One (ident, filter) registration, as the caller made it.
struct Filter {
    bool added = false;
    bool enabled = false;
    unsigned short flags = 0; // kKept bits
    unsigned fflags = 0;      // EVFILT_USER: the caller's 24 bits
    void* udata = nullptr;
    bool active() const { return added && enabled; }
};

// What one epoll registration stands for, by the descriptor epoll watches:
// a caller's descriptor with its read and write filter, or the eventfd or
// timerfd the layer made for one EVFILT_USER or EVFILT_TIMER (in `read`).
struct Watch {
    short kind = 0;      // 0: the caller's descriptor; else EVFILT_USER or EVFILT_TIMER
    uintptr_t ident = 0; // USER and TIMER: the caller's number for it
    uint32_t gen = 0;    // beside the descriptor in data.u64: reports of an older registration
                         // of the same number are dropped
    uint32_t mask = 0;   // what epoll watches now; 0 also after an EPOLLONESHOT report
    bool in_epoll = false;
    Filter read, write;
};

struct Queue {
    uint32_t next_gen = 1;
    std::unordered_map<int, Watch> watches;           // by watched descriptor
    std::map<std::pair<short, uintptr_t>, int> named; // (EVFILT_USER/TIMER, ident) -> descriptor
};

// The descriptors the layer made for a kqueue: closed with it, as far as the
// layer can tell when that is (see sys/event.h).
void close_made(Queue& q) {
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

uint64_t key(int fd, const Watch& w) {
    return (uint64_t{w.gen} << 32) | static_cast<uint32_t>(fd);
}

int ctl(int kq, int op, int fd, const Watch& w, uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = key(fd, w);
    return epoll_ctl(kq, op, fd, &ev) < 0 ? errno : 0;
}

// [snippet: wanted]
// The one epoll registration that stands for a descriptor's filters.
// EPOLLET and EPOLLONESHOT apply to the whole registration, so they are set
// only when every active filter asks for EV_CLEAR or EV_ONESHOT.
uint32_t wanted(const Watch& w) {
    const uint32_t in = EPOLLIN, et = EPOLLET;
    if (w.kind != 0 && !w.read.active()) return 0;
    if (w.kind == EVFILT_USER) return in | (w.read.flags & EV_CLEAR ? et : 0); // never read
    if (w.kind == EVFILT_TIMER) return in; // read at every report
    uint32_t ev = 0;
    unsigned short all = EV_CLEAR | EV_ONESHOT;
    for (const Filter* f : {&w.read, &w.write}) {
        if (!f->active()) continue;
        ev |= f == &w.read ? in | EPOLLRDHUP | EPOLLPRI : uint32_t{EPOLLOUT};
        all &= f->flags;
    }
    if (ev == 0) return 0;
    if (all & EV_CLEAR) ev |= et;
    if (all & EV_ONESHOT) ev |= EPOLLONESHOT;
    return ev;
}
// [/snippet]

// Brings epoll in line with the watch: at most one epoll_ctl, none when epoll
// already watches what is wanted (`force`: ask anyway, which re-arms an
// edge or a oneshot). Returns 0 or the errno.
int sync(int kq, int fd, Watch& w, bool force) {
    uint32_t want = wanted(w);
    int err = 0;
    if (want == 0) {
        // A fired EPOLLONESHOT registration (mask 0) is disabled already.
        if (w.in_epoll && w.mask != 0) err = ctl(kq, EPOLL_CTL_DEL, fd, w, 0);
        if (!err && w.mask != 0) w.in_epoll = false;
    } else if (!w.in_epoll) {
        err = ctl(kq, EPOLL_CTL_ADD, fd, w, want);
    } else if (want != w.mask || force) {
        err = ctl(kq, EPOLL_CTL_MOD, fd, w, want);
    }
    if (!err) {
        w.mask = want;
        w.in_epoll = w.in_epoll || want != 0;
    }
    return err;
}

void set_filter(Filter& f, const struct kevent& c) {
    f.added = true;
    f.enabled = !(c.flags & EV_DISABLE);
    f.flags = c.flags & kKept;
    f.udata = c.udata;
}

// [snippet: change-fd]
// EVFILT_READ or EVFILT_WRITE on a caller's descriptor.
int change_fd(int kq, Queue& q, const struct kevent& c) {
    if (c.ident > INT_MAX) return EBADF;
    const int fd = static_cast<int>(c.ident);
    auto [it, is_new] = q.watches.try_emplace(fd);
    Watch& w = it->second;
    if (is_new) w.gen = q.next_gen++;
    if (w.kind != 0) return EINVAL; // the layer's own eventfd or timerfd
    const bool reading = c.filter == EVFILT_READ;
    // Adding a filter the table already holds usually means that the
    // descriptor was closed (kqueue forgets its filters then; the layer only
    // learns it now) and the number came back. Try it as a new registration;
    // EEXIST says the descriptor is the same, and it is a change after all.
    if ((c.flags & EV_ADD) && (reading ? w.read : w.write).added && w.in_epoll) {
        Watch fresh;
        fresh.gen = q.next_gen++;
        set_filter(reading ? fresh.read : fresh.write, c);
        int err = ctl(kq, EPOLL_CTL_ADD, fd, fresh, wanted(fresh));
        if (err == 0) {
            fresh.mask = wanted(fresh);
            fresh.in_epoll = true;
            w = fresh;
            return 0;
        }
        if (err != EEXIST) return err;
    }
    const Watch before = w;
    Filter& f = reading ? w.read : w.write;
    const Filter& other = reading ? w.write : w.read;
    if (c.flags & EV_DELETE) {
        if (!f.added) return ENOENT; // kqueue(2): "The event could not be found"
        f = Filter{};
    } else {
        if (c.flags & EV_ADD)
            set_filter(f, c);
        else if (!f.added)
            return ENOENT;
        if (c.flags & EV_ENABLE) f.enabled = true;
        if (c.flags & EV_DISABLE) f.enabled = false;
        if (other.added && ((other.flags ^ f.flags) & EV_CLEAR)) { // one EPOLLET for both
            w = before;
            return EINVAL;
        }
    }
    int err = sync(kq, fd, w, c.flags & EV_ADD);
    if (err == ENOENT || err == EBADF) {
        // epoll has nothing for this descriptor any more: it was closed, and
        // every filter the table remembers went with it. EBADF: it is still
        // closed. ENOENT: the number is open again, with nothing registered.
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
    close(it->second); // the only copy: closing it also removes it from epoll
    q.watches.erase(it->second);
    q.named.erase(it);
}

int arm_timer(int fd, const struct kevent& c) {
    int64_t scale;
    switch (c.fflags) {
    case 0:
    case NOTE_MSECONDS:
        scale = 1000000;
        break;
    case NOTE_SECONDS:
        scale = 1000000000;
        break;
    case NOTE_USECONDS:
        scale = 1000;
        break;
    case NOTE_NSECONDS:
        scale = 1;
        break;
    default:
        return EINVAL; // NOTE_ABSTIME and the rest: not modelled
    }
    if (c.data < 0) return EINVAL;
    int64_t ns =
        std::max<int64_t>(1, std::min(c.data, INT64_MAX / scale) * scale); // 0 would disarm
    itimerspec its{};
    its.it_value = {static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
    if (!(c.flags & EV_ONESHOT)) its.it_interval = its.it_value; // periodic, as kqueue's timers are
    return timerfd_settime(fd, 0, &its, nullptr) < 0 ? errno : 0;
}

// [snippet: trigger]
// NOTE_TRIGGER: one write to the eventfd. It is registered with EPOLLET and
// never read (chapter 03's waker), so every trigger is an edge and triggers
// before the next kevent() coalesce into one event.
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
    if (c.flags & (EV_ENABLE | EV_DISABLE)) return EINVAL;
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
    if (c.flags & EV_ADD) {
        set_filter(w.read, c);
        if (c.filter == EVFILT_TIMER) {
            w.read.flags |= EV_CLEAR; // kqueue(2): timers set it themselves
            err = arm_timer(fd, c);
        }
        if (!err) err = sync(kq, fd, w, false);
    }
    if (!err && c.filter == EVFILT_USER) {
        unsigned v = c.fflags & NOTE_FFLAGSMASK;
        switch (c.fflags & NOTE_FFCTRLMASK) {
        case NOTE_FFAND:
            w.read.fflags &= v;
            break;
        case NOTE_FFOR:
            w.read.fflags |= v;
            break;
        case NOTE_FFCOPY:
            w.read.fflags = v;
            break;
        }
        if (c.fflags & NOTE_TRIGGER) err = trigger(fd);
    }
    if (err && made) forget(q, it);
    return err;
}

int apply(int kq, Queue& q, const struct kevent& c) {
    if (c.flags & ~kKnown) return EINVAL; // EV_DISPATCH and the rest: not modelled
    switch (c.filter) {
    case EVFILT_READ:
    case EVFILT_WRITE:
        return change_fd(kq, q, c);
    case EVFILT_USER:
    case EVFILT_TIMER:
        return change_named(kq, q, c);
    default:
        return EINVAL;
    }
}

// [snippet: deliver]
// Turns one epoll report into kevents (at most `room`): none if the
// registration changed since, one or two for a descriptor (read, write).
int deliver(int kq, Queue& q, const epoll_event& e, struct kevent* out, int room) {
    const int fd = static_cast<int>(e.data.u64 & 0xffffffff);
    auto it = q.watches.find(fd);
    if (it == q.watches.end() || it->second.gen != e.data.u64 >> 32) return 0;
    Watch& w = it->second;
    if (w.kind != 0) {
        uint64_t count = 0; // EVFILT_TIMER: expirations since the last read
        if (w.kind == EVFILT_TIMER && read(fd, &count, sizeof count) != sizeof count) return 0;
        Filter f = w.read;
        out[0] = {w.ident, w.kind, f.flags, f.fflags, static_cast<int64_t>(count), f.udata};
        if (f.flags & EV_CLEAR) w.read.fflags = 0; // reset once retrieved
        if (f.flags & EV_ONESHOT) forget(q, q.named.find({w.kind, w.ident}));
        return 1;
    }
    const uint32_t ev = e.events;
    const bool eof = ev & (EPOLLRDHUP | EPOLLHUP);
    int error = 0; // kqueue puts the socket error in fflags with EV_EOF
    if (eof && (ev & EPOLLERR)) {
        socklen_t len = sizeof error;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len);
    }
    int n = 0;
    bool fired = false, left_over = false;
    auto emit = [&](short filter, Filter& f, bool f_eof, int64_t data) {
        if (n == room) {
            left_over = true;
            return;
        }
        unsigned short flags = f.flags | (f_eof ? EV_EOF : 0);
        out[n++] = {static_cast<uintptr_t>(fd),
                    filter,
                    flags,
                    static_cast<unsigned>(f_eof ? error : 0),
                    data,
                    f.udata};
        if (f.flags & EV_ONESHOT) {
            f = Filter{}; // delivered once: deleted, as kqueue does
            fired = true;
        }
    };
    if (w.read.active() && (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR | EPOLLPRI))) {
        int64_t data = 0; // "not counted": another system call would be needed
        int waiting = 0;
        if (eof && ioctl(fd, FIONREAD, &waiting) == 0)
            data = waiting; // the bytes before the FIN
        else if (ev & EPOLLPRI)
            data = INT64_MAX; // an urgent mark: FIONREAD stops there, so read to EAGAIN
        emit(EVFILT_READ, w.read, eof, data);
    }
    if (w.write.active() && (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)))
        emit(EVFILT_WRITE, w.write, ev & EPOLLHUP, 0);
    if (w.mask & EPOLLONESHOT) w.mask = 0; // epoll disabled it when it reported it
    // A oneshot filter went, a fired EPOLLONESHOT registration may still
    // have a filter to watch, or a filter did not fit in `out` (an edge is
    // reported again only after a MOD).
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
         (timeout->tv_sec < 0 || timeout->tv_nsec < 0 || timeout->tv_nsec >= 1000000000))) {
        errno = EINVAL;
        return -1;
    }
    // Changes first, in order. A failed change, or any change with
    // EV_RECEIPT, is answered in the eventlist (EV_ERROR, errno in data);
    // then kevent() returns those answers without waiting for events.
    int answers = 0;
    {
        std::lock_guard<std::mutex> hold(g.lock);
        auto qi = g.queues.find(kq);
        if (qi == g.queues.end()) {
            errno = EBADF;
            return -1;
        }
        for (int i = 0; i < nchanges; ++i) {
            struct kevent c = changelist[i]; // a copy: the lists may be one array
            c.flags &= ~(EV_EOF | EV_ERROR);
            int err = apply(kq, qi->second, c);
            if (err == 0 && !(c.flags & EV_RECEIPT)) continue;
            if (nevents == 0) { // no room for the answer: stop here, as FreeBSD does
                errno = err;
                return err ? -1 : 0;
            }
            c.flags = EV_ERROR;
            c.data = err;
            eventlist[answers++] = c;
            --nevents;
        }
    }
    if (answers > 0 || nevents == 0) return answers;

    // Then the events: one epoll report may become two kevents.
    using Clock = std::chrono::steady_clock;
    const auto deadline = timeout ? Clock::now() + std::chrono::seconds(timeout->tv_sec) +
                                        std::chrono::nanoseconds(timeout->tv_nsec)
                                  : Clock::time_point::max();
    epoll_event reports[64];
    const int most = std::min(64, std::max(1, nevents / 2));
    for (;;) {
        int ms = -1;
        if (timeout) {
            auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
            ms = static_cast<int>(std::clamp<int64_t>(left.count(), 0, INT_MAX));
        }
        int n = epoll_wait(kq, reports, most, ms);
        if (n < 0) return -1; // EINTR: the changes above are applied, as kqueue(2) says
        int got = 0;
        {
            std::lock_guard<std::mutex> hold(g.lock);
            auto qi = g.queues.find(kq);
            for (int i = 0; qi != g.queues.end() && i < n; ++i)
                got += deliver(kq, qi->second, reports[i], eventlist + got, nevents - got);
        }
        // Nothing left when every report was for a registration that has
        // changed since: wait again, for the time that is left.
        if (got > 0 || n == 0 || ms == 0) return got;
    }
}
// [/snippet]
