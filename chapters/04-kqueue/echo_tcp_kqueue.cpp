// echo_tcp_kqueue.cpp: a TCP echo server on kqueue. Edge-triggered
// (EV_CLEAR) by default; --level registers the same filters without it.
//
// What it shows
//   - One kevent() per turn: the changes made since the last turn go in with
//     the wait (changelist.hpp), the events come out.
//   - Filters, not descriptors: a connection has a read filter and, once a
//     send() is refused, a write filter, each with its own flags. kqueue has
//     no "modify": a filter is added (EV_ADD) or deleted (EV_DELETE).
//   - EV_CLEAR is edge triggering: told once, as with EPOLLET in chapter 03.
//     The write filter is added the first time send() says EAGAIN, and kept.
//   - --level: the read filter without EV_CLEAR, deleted while the output
//     buffer is full; the write filter added with EV_ONESHOT at each EAGAIN,
//     so it deletes itself once it has fired.
//   - `data`: kqueue counts the listener's backlog and, with EV_EOF, the
//     bytes before the FIN; where it does, a call is saved (no accept() or
//     recv() just to learn there is nothing more).
//   - udata: each filter carries its connection's address, handed back with
//     every event; no lookup by descriptor.
//   - EVFILT_USER: SIGINT and SIGTERM reach the loop as a user event
//     (stop_event.hpp). EVFILT_TIMER: after an accept failure that leaves
//     connections queued (ENOBUFS, ENOMEM), a one-shot timer brings the loop
//     back to the listener.
//
// Run it
//   ./build/default/chapters/04-kqueue/echo_tcp_kqueue --port 2000 -v
//   nc 127.0.0.1 2000
//   strace -f -o tcp.trace ./build/default/chapters/04-kqueue/echo_tcp_kqueue --port 2000
// On Linux the trace shows the teaching layer's epoll calls; on FreeBSD,
// `truss -f ./echo_tcp_kqueue --port 2000` shows the kevent() calls.
//
// Left out on purpose: a per-turn budget (chapter 03's fair server), idle
// timeouts, TLS.
#include "acceptor.hpp"
#include "changelist.hpp"
#include "log.hpp"
#include "options.hpp"
#include "socket_setup.hpp"
#include "stop_event.hpp"
#include "tcp_connection.hpp"

#include <climits>
#include <cstdint>
#include <sys/event.h>
#include <unistd.h>
#include <unordered_map>
#include <vector>

using namespace ioladder;
using ioladder::ch04::ChangeList;
using ioladder::ch04::StopEvent;

namespace {

constexpr uintptr_t kBackoffTimer = 1; // an EVFILT_TIMER's number (StopEvent's 1 is an EVFILT_USER)
constexpr int kMaxEvents = 64;

// [snippet: connection]
struct KqConnection : Connection {
    using Connection::Connection;

    bool readable = false;     // edge: a read event came, and no read has used it up
    bool writable = true;      // send() has not said EAGAIN since the last write event
    bool counted = false;      // the read event counted the bytes waiting (`data`)...
    int64_t unread = 0;        // ...and this many of them are not read yet
    bool eof = false;          // EV_EOF: the client's FIN is in, behind `unread` bytes
    bool read_filter = false;  // EVFILT_READ is in the kqueue
    bool write_filter = false; // EVFILT_WRITE is in the kqueue (--level: a oneshot, pending)
    bool closed = false;       // closed in this batch: freed after it
};
// [/snippet]

class KqueueServer {
  public:
    KqueueServer(int kq, int listener, Acceptor& acceptor, bool level)
        : kq_(kq), listener_(listener), acceptor_(acceptor), level_(level) {
        changes_.add(listener, EVFILT_READ, EV_ADD | clear());
    }
    // Shutting down: one non-blocking attempt to send what is pending, then close.
    ~KqueueServer() {
        for (auto& [fd, c] : conns_) {
            write_output(c);
            close(fd);
        }
    }
    KqueueServer(const KqueueServer&) = delete;
    KqueueServer& operator=(const KqueueServer&) = delete;

    // [snippet: loop]
    void run() {
        struct kevent events[kMaxEvents];
        for (bool running = true; running;) {
            // The changes of the last turn go in; the events come out.
            int n = changes_.wait(kq_, events, timer_failed_ ? &kBackoff : nullptr);
            for (int i = 0; i < n; ++i) {
                const struct kevent& ev = events[i];
                if (ev.flags & EV_ERROR)
                    change_failed(ev);
                else if (ev.filter == EVFILT_USER) // StopEvent: SIGINT or SIGTERM
                    running = false;
                else if (ev.filter == EVFILT_TIMER) // the accept back-off is over
                    resume_accepting();
                else if (ev.ident == static_cast<uintptr_t>(listener_))
                    listener_ready(ev);
                else
                    connection_event(*static_cast<KqConnection*>(ev.udata), ev);
            }
            free_closed(); // no event of this batch points at them any more
            if (running) accept_some();
        }
    }
    // [/snippet]

  private:
    unsigned short clear() const { return level_ ? 0 : EV_CLEAR; }

    // [snippet: events]
    void connection_event(KqConnection& c, const struct kevent& ev) {
        if (c.closed) return; // closed earlier in this batch: udata is all that is left
        if (ev.filter == EVFILT_READ) {
            // EV_EOF with an error in fflags: the client reset the connection.
            // Nobody is left to echo to.
            if ((ev.flags & EV_EOF) && ev.fflags != 0) {
                IOLADDER_LOG("%s: %s", c.name.c_str(), std::strerror(static_cast<int>(ev.fflags)));
                return close_connection(c);
            }
            c.readable = true;
            c.eof = ev.flags & EV_EOF;
            c.counted = ev.data > 0 || c.eof; // 0 without EV_EOF: not counted (Linux layer)
            c.unread = ev.data;
        } else {
            c.writable = true;
            if (level_) c.write_filter = false; // EV_ONESHOT: it deleted itself
        }
        if (!(level_ ? serve_level(c, ev.filter == EVFILT_READ) : serve_edge(c)))
            close_connection(c);
    }
    // [/snippet]

    // [snippet: read-counted]
    // Reads what the read event reported. When kqueue counted the bytes
    // (`data`), read that many: a short read does not end it (it may stop at
    // an urgent mark), and with EV_EOF the last byte is the end, without a
    // recv() that returns 0. When it did not count them (the Linux layer
    // reports 0), chapter 03's rule: a short read proves the socket empty.
    // Reads once under --level: the next kevent() reports what is left.
    bool read_some_counted(KqConnection& c) {
        while (c.readable && c.wants_read()) {
            if (c.counted && c.unread == 0) { // all that was counted is read
                c.readable = false;
                break;
            }
            ReadResult r = read_some(c);
            if (r.status == ReadStatus::failed) return false;
            if (r.status == ReadStatus::drained || r.status == ReadStatus::eof) c.readable = false;
            if (c.counted)
                c.unread -= std::min<int64_t>(c.unread, static_cast<int64_t>(r.bytes));
            else if (r.bytes < r.asked)
                c.readable = false; // a short read: the socket is empty
            if (level_) break;
        }
        if (c.eof && c.counted && c.unread == 0) c.peer_closed = true; // the FIN is next
        return true;
    }
    // [/snippet]

    // [snippet: write-first]
    // Write first: send now; only when send() says EAGAIN ask kqueue to say
    // when there is room. Edge: add the write filter once, with EV_CLEAR, and
    // keep it. Level: add it with EV_ONESHOT each time; it deletes itself
    // when it fires, so there is nothing to turn off afterwards.
    bool write_first(KqConnection& c) {
        if (!c.writable || !c.wants_write()) return true;
        switch (write_output(c)) {
        case WriteStatus::drained:
            return true;
        case WriteStatus::failed:
            return false;
        case WriteStatus::blocked:
            break;
        }
        c.writable = false;
        if (!c.write_filter) {
            changes_.add(c.fd, EVFILT_WRITE, EV_ADD | (level_ ? EV_ONESHOT : EV_CLEAR), &c);
            c.write_filter = true;
        }
        return true;
    }
    // [/snippet]

    // Edge: until neither direction can move without a new event. Reading and
    // writing alternate, so a full buffer is emptied and reading resumes.
    bool serve_edge(KqConnection& c) {
        while ((c.readable && c.wants_read()) || (c.writable && c.wants_write())) {
            if (!write_first(c) || !read_some_counted(c)) return false;
        }
        return !c.finished();
    }

    // [snippet: serve-level]
    // Level: one read for a read event, the echo, and the read filter kept
    // in step with wants_read(): deleted while the buffer is full or the
    // client has finished, or kqueue would report the socket on every call.
    bool serve_level(KqConnection& c, bool read_event) {
        if (read_event && !read_some_counted(c)) return false;
        if (!write_first(c)) return false;
        if (c.wants_read() != c.read_filter) {
            changes_.add(c.fd, EVFILT_READ, c.read_filter ? EV_DELETE : EV_ADD, &c);
            c.read_filter = !c.read_filter;
        }
        return !c.finished();
    }
    // [/snippet]

    // A change that failed: kevent() answered it with EV_ERROR and the errno
    // in `data` (ENOMEM, say) instead of making it.
    void change_failed(const struct kevent& ev) {
        int err = static_cast<int>(ev.data);
        if (ev.filter == EVFILT_TIMER) { // no timer: wait with a timeout instead
            timer_failed_ = true;
        } else if (ev.ident == static_cast<uintptr_t>(listener_)) {
            // EV_CLEAR: its one registration, at start-up; nothing to serve
            // without it. --level: an EV_ADD or EV_DELETE around a back-off,
            // tried again after another one.
            if (!level_) {
                errno = err;
                die("kevent: the listener's registration");
            }
            backoff();
        } else if (auto* c = static_cast<KqConnection*>(ev.udata); c && !c->closed) {
            warn("kevent: a change for %s failed: %s; closing it", c->name.c_str(),
                 std::strerror(err));
            close_connection(*c);
        }
    }

    void listener_ready(const struct kevent& ev) {
        listener_ready_ = true;
        backlog_ = ev.data; // connections waiting; 0: not counted (Linux layer)
    }

    // [snippet: accept-some]
    // Accepts what the listener holds: as many as kqueue counted in the
    // backlog, so no accept() is made only to hear EAGAIN; or, where the
    // backlog was not counted, until EAGAIN. After a failure that leaves
    // connections queued the acceptor backs off, and a one-shot timer brings
    // us back (--level also deletes the listener's filter meanwhile, which
    // would report it on every call).
    void accept_some() {
        if (!listener_ready_ || backing_off_) return;
        std::string name;
        for (int64_t left = backlog_ > 0 ? backlog_ : INT64_MAX; left > 0; --left) {
            int fd = acceptor_.accept_one(&name);
            if (fd < 0) break;
            KqConnection& c = conns_.try_emplace(fd, fd, name).first->second;
            changes_.add(fd, EVFILT_READ, EV_ADD | clear(), &c); // udata: the connection
            c.read_filter = true;
            IOLADDER_LOG("%s: accepted as fd %d", name.c_str(), fd);
        }
        listener_ready_ = false;
        if (acceptor_.backing_off()) backoff();
    }
    // [/snippet]

    // [snippet: backoff]
    void backoff() {
        backing_off_ = true;
        changes_.add(kBackoffTimer, EVFILT_TIMER, EV_ADD | EV_ONESHOT, nullptr, 0,
                     std::max(1, acceptor_.backoff_ms())); // data: milliseconds
        if (level_) changes_.add(listener_, EVFILT_READ, EV_DELETE);
    }
    void resume_accepting() {
        backing_off_ = timer_failed_ = false;
        listener_ready_ = true; // connections may be queued, with no new event to say so
        if (level_) changes_.add(listener_, EVFILT_READ, EV_ADD);
    }
    // [/snippet]

    void close_connection(KqConnection& c) {
        IOLADDER_LOG("%s: closed", c.name.c_str());
        changes_.forget(c.fd); // its number may be a new connection's by the next wait
        close(c.fd);           // also deletes its filters from the kqueue
        c.closed = true;
        closed_.push_back(c.fd);
    }
    void free_closed() {
        for (int fd : closed_)
            conns_.erase(fd);
        closed_.clear();
        // Without a back-off timer (its EV_ADD failed) the loop waits with a
        // timeout instead, and comes here when the back-off is over.
        if (timer_failed_ && !acceptor_.backing_off()) resume_accepting();
    }

    static constexpr struct timespec kBackoff = {0, 10 * 1000 * 1000};

    int kq_;
    int listener_;
    Acceptor& acceptor_;
    bool level_;
    ChangeList changes_;
    std::unordered_map<int, KqConnection> conns_; // by descriptor; udata points into it
    std::vector<int> closed_;
    bool listener_ready_ = false; // a listener event came, and accepting has not caught up
    int64_t backlog_ = 0;
    bool backing_off_ = false;
    bool timer_failed_ = false;
};

} // namespace

int main(int argc, char** argv) {
    bool level = false;
    Options opt = parse_options(
        argc, argv, "TCP echo server on kqueue (EV_CLEAR; --level without).",
        {Option::Flag("--level", &level, "level-triggered filters instead of EV_CLEAR")});
    int kq = kqueue();
    if (kq < 0) die("kqueue");
    {
        // First, so its thread waits for the signals well before the "listening
        // on" line, after which a SIGTERM may come at once.
        StopEvent stop(kq);
        int listener = open_bound_socket(opt, SOCK_STREAM);
        Acceptor acceptor(listener);
        {
            KqueueServer server(kq, listener, acceptor, level);
            announce(listener, "tcp");
            server.run();
        }
        close(listener);
    }
    close(kq);
    IOLADDER_LOG("shut down");
    return 0;
}
