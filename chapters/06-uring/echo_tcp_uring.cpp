// echo_tcp_uring.cpp: a TCP echo server on io_uring, a proactor.
//
// What it shows
//   - No readiness at all. We do not ask "is this socket readable?"; we
//     submit "accept", "recv into this buffer", "send these bytes" and
//     collect the results as completions (CQEs). Under strace the server
//     makes io_uring_enter calls and no accept4, recv or send.
//   - Batching: every SQE written while handling a batch of CQEs goes to the
//     kernel in the next single io_uring_enter, which also waits for the
//     next batch. At 64 busy connections that is a few hundredths of a
//     system call per echoed message.
//   - Multishot: one accept SQE yields a CQE per new connection, and one
//     recv SQE a CQE per chunk of data, while IORING_CQE_F_MORE is set.
//     When it is clear the operation is over, and we submit it again.
//   - Who owns a buffer. Each connection has 4 receive buffers of 16 KiB.
//     With a provided-buffer ring the kernel picks one per recv; the buffer
//     then stays with the connection until the send that echoes it has
//     completed, and only then goes back. When all 4 are waiting to be
//     sent, the recv ends with -ENOBUFS: that is the 64 KiB bound of every
//     server in this book, enforced by the kernel. We submit the recv again
//     once buffers come back.
//   - A connection is freed only when the kernel holds none of its
//     operations: its buffers may be written until the last CQE arrives.
//
//   --single-shot  no multishot, no buffer ring: one accept and one recv at a
//                  time, into a buffer we pick (the path for kernels before
//                  5.19, and what the server falls back to by itself there).
//   --sqpoll       a kernel thread polls the SQ, so submitting needs no
//                  system call while it is awake (see the book for its cost).
//
// Run it
//   ./build/default/chapters/06-uring/echo_tcp_uring --port 2000 -v
//   nc 127.0.0.1 2000
//   strace -f -o tcp.trace ./build/default/chapters/06-uring/echo_tcp_uring --port 2000
#include "buffers.hpp"
#include "echo_common.hpp"
#include "uring_server.hpp"

#include <cstring>
#include <linux/time_types.h>
#include <memory>
#include <poll.h>
#include <sys/socket.h>
#include <unordered_map>
#include <utility>
#include <vector>

using namespace ioladder;
using namespace ioladder::uring;

namespace {

// 64 KiB per connection, in 4 buffers: a multishot recv fills one buffer per
// CQE, and 16 KiB takes a burst of 4 KiB messages in one (measured: with 16
// buffers of 4 KiB, 16x4x4KiB ran at a third of the speed).
constexpr unsigned kBuffers = 4, kBufferSize = 16384;

// [snippet: connection]
struct Connection {
    explicit Connection(int fd) : fd(fd), buffers(kBuffers, kBufferSize) {}
    int fd;
    Buffers buffers;
    // Received and not yet echoed, oldest first: buffer id, offset, length.
    struct Chunk {
        uint16_t id;
        unsigned offset, length;
    };
    std::vector<Chunk> queue;
    int recv_id = -1;             // single shot: the buffer the recv in flight fills
    bool recv_armed = false;      // a recv is in flight (multishot or not)
    bool sending = false;         // a send is in flight: at most one, to keep the order
    bool eof = false;             // the client sent FIN
    bool failed = false;          // reset, or another error: close as soon as we can
    bool cancelling = false;      // cancels for its operations are submitted
    bool starved = false;         // reading stopped: every buffer waits to be sent
    bool waiting_to_send = false; // in to_send_, for after_batch()
    int in_flight = 0;            // operations the kernel holds
    msghdr msg{};                 // owned by the send in flight, like its buffers
    iovec iov[kBuffers]{};
};
// [/snippet]

class Server {
  public:
    Server(EchoServer& server, bool single_shot, bool sqpoll)
        : server_(server), loop_(server, sqpoll), multishot_(!single_shot) {
        IOLADDER_LOG("%s", multishot_ ? "trying multishot accept and recv with buffer rings"
                                      : "single-shot accept and recv (--single-shot)");
        arm_accept();
    }

    void run() {
        loop_.run([this](const io_uring_cqe& cqe) { dispatch(cqe); }, [this] { after_batch(); });
        shut_down();
    }

  private:
    void dispatch(const io_uring_cqe& cqe) {
        switch (kind_of(cqe.user_data)) {
        case kAccept:
            return on_accept(cqe);
        case kRecv:
            return on_recv(*owner_of<Connection>(cqe.user_data), cqe);
        case kSend:
            return on_send(*owner_of<Connection>(cqe.user_data), cqe);
        case kTimer:
            return on_pause_over();
        case kCancel: // the cancelled operation reports on its own
        case kStop:   // the loop's
            return;
        }
    }

    // ---- accepting -------------------------------------------------------

    // [snippet: accept]
    void arm_accept() {
        io_uring_sqe* s = loop_.sqe();
        s->opcode = IORING_OP_ACCEPT;
        s->fd = server_.fd();
        s->accept_flags = SOCK_CLOEXEC;
        if (multishot_) s->ioprio = IORING_ACCEPT_MULTISHOT; // 5.19
        s->user_data = tag(this, kAccept);
        accept_armed_ = true;
    }

    void on_accept(const io_uring_cqe& cqe) {
        bool more = cqe.flags & IORING_CQE_F_MORE;
        if (!more) accept_armed_ = false;
        if (cqe.res >= 0) {
            start(cqe.res);
        } else if (cqe.res == -EINVAL && multishot_) {
            multishot_ = false; // a kernel before 5.19
            warn("multishot accept is not supported here (EINVAL): single-shot from now on");
        } else if (cqe.res == -EMFILE || cqe.res == -ENFILE) {
            // A queued connection stays queued: shed it, or we would be told
            // again at once. With nothing to shed, or the reserve lost, pause.
            // io_uring takes the descriptor before it looks at the queue, so
            // this also comes when nobody is waiting: then until somebody is.
            if (spare_.shed_one(server_.fd()))
                refused_.count("out of file descriptors, refused a connection");
            else
                pause_accepting(errno == EAGAIN || errno == EWOULDBLOCK ? kUntilAClientWaits
                                                                        : kTenMilliseconds);
        } else if (cqe.res == -ENOBUFS || cqe.res == -ENOMEM) {
            failed_.count(std::strerror(-cqe.res));
            pause_accepting(kTenMilliseconds);
        } // else ECONNABORTED and the like: accept(2) says try again;
          // -ECANCELED: our pause stopped it
        if (!accept_armed_ && !accept_paused_) arm_accept();
    }

    // Stops accepting for 10 ms (a timeout operation), or until a client
    // waits to be accepted (a poll of the listener), then accepts again. A
    // multishot accept still running is cancelled first, or it would report
    // the same failure again at once, as fast as the kernel can.
    enum Pause { kTenMilliseconds, kUntilAClientWaits };
    void pause_accepting(Pause how) {
        if (accept_paused_) return;
        accept_paused_ = true;
        if (accept_armed_) cancel(tag(this, kAccept));
        static const __kernel_timespec ten_ms{0, 10'000'000};
        io_uring_sqe* s = loop_.sqe();
        if (how == kTenMilliseconds) {
            s->opcode = IORING_OP_TIMEOUT;
            s->addr = reinterpret_cast<uint64_t>(&ten_ms);
            s->len = 1;
        } else {
            s->opcode = IORING_OP_POLL_ADD;
            s->fd = server_.fd();
            s->poll32_events = POLLIN;
        }
        s->user_data = tag(this, kTimer);
    }

    void on_pause_over() {
        accept_paused_ = false;
        if (!accept_armed_) arm_accept(); // else when the cancelled one reports
    }
    // [/snippet]

    void start(int fd) {
        auto c = std::make_unique<Connection>(fd);
        // One buffer group per connection, so that one client that never
        // reads can take only its own 4 buffers. Ids are the fd: unique
        // among open connections, and below 65536 here.
        if (multishot_ && fd < 65536 && !c->buffers.provide_to_kernel(loop_.ring(), fd)) {
            if (errno == EINVAL) {
                multishot_ = false;
                warn("provided-buffer rings are not supported here (EINVAL): single-shot recv");
            }
        }
        IOLADDER_LOG("fd %d: connected, %s", fd,
                     c->buffers.kernel_picks() ? "multishot recv, buffer ring"
                                               : "single-shot recv");
        Connection& conn = *c;
        connections_.emplace(&conn, std::move(c));
        arm_recv(conn);
    }

    // ---- receiving -------------------------------------------------------

    // [snippet: recv]
    void arm_recv(Connection& c) {
        if (c.recv_armed || c.eof || c.failed) return;
        io_uring_sqe* s;
        if (c.buffers.kernel_picks()) {
            s = loop_.sqe();
            s->opcode = IORING_OP_RECV;
            s->fd = c.fd;
            s->flags = IOSQE_BUFFER_SELECT; // no address: the kernel picks a buffer
            s->buf_group = c.buffers.group();
            s->ioprio = IORING_RECV_MULTISHOT; // 6.0
        } else {
            int id = c.buffers.take();
            if (id < 0) return stop_reading(c); // all 4 wait to be sent
            s = loop_.sqe();
            s->opcode = IORING_OP_RECV;
            s->fd = c.fd;
            s->addr = reinterpret_cast<uint64_t>(c.buffers.data(id));
            s->len = c.buffers.size();
            c.recv_id = id;
        }
        s->user_data = tag(&c, kRecv);
        c.recv_armed = true;
        ++c.in_flight;
        if (c.starved) IOLADDER_LOG("fd %d: buffers came back, reading again", c.fd);
        c.starved = false;
    }

    // Backpressure: the client's data stays in the kernel's socket buffer,
    // and once that is full, TCP tells the client to stop sending.
    void stop_reading(Connection& c) {
        if (!c.starved)
            IOLADDER_LOG("fd %d: all %u buffers wait to be sent, reading stops", c.fd, kBuffers);
        c.starved = true;
    }

    void on_recv(Connection& c, const io_uring_cqe& cqe) {
        bool more = cqe.flags & IORING_CQE_F_MORE;
        if (!more) {
            c.recv_armed = false;
            --c.in_flight;
        }
        int id =
            (cqe.flags & IORING_CQE_F_BUFFER) ? cqe.flags >> IORING_CQE_BUFFER_SHIFT : c.recv_id;
        if (cqe.res > 0) {
            c.queue.push_back({static_cast<uint16_t>(id), 0, static_cast<unsigned>(cqe.res)});
            IOLADDER_LOG("fd %d: received %d bytes into buffer %d", c.fd, cqe.res, id);
            send_later(c);
        } else {
            if (!c.buffers.kernel_picks() && id >= 0) c.buffers.give_back(id); // unused
            if (cqe.res == 0) {
                c.eof = true; // FIN: echo what is queued, then close
            } else if (cqe.res == -ENOBUFS && c.queue.size() == kBuffers) {
                stop_reading(c); // on_send submits the recv again
            } else if (cqe.res == -ENOBUFS) {
                // The ring was empty when the kernel looked, but a send
                // completed earlier in this batch gave buffers back: read on.
            } else if (cqe.res == -EINVAL && c.buffers.kernel_picks()) {
                warn("multishot recv is not supported here (EINVAL): single-shot from now on");
                multishot_ = false;
                c.buffers.unregister();
            } else if (cqe.res != -ECANCELED) {
                IOLADDER_LOG("fd %d: recv: %s", c.fd, std::strerror(-cqe.res));
                c.failed = true;
            }
        }
        // Multishot ended with data (the CQ overflowed, say), EINVAL, or
        // ENOBUFS with buffers back by now: go on reading. When every buffer
        // still waits, on_send does it once one comes back.
        if (!c.recv_armed && !c.starved) arm_recv(c);
        finish_if_done(c);
    }
    // [/snippet]

    // ---- sending ---------------------------------------------------------

    // [snippet: send]
    // Sends are made once per batch of completions, after all of them: by
    // then every chunk the batch brought in is queued, and one send takes
    // them all. A connection waits in to_send_ until then.
    void send_later(Connection& c) {
        if (c.waiting_to_send) return;
        c.waiting_to_send = true;
        to_send_.push_back(&c);
    }

    void after_batch() {
        for (Connection* c : std::exchange(to_send_, {})) {
            c->waiting_to_send = false;
            send_queued(*c);
            finish_if_done(*c);
        }
    }

    // One send for everything queued: a plain send for one chunk, a sendmsg
    // gathering the chunks in order for more.
    void send_queued(Connection& c) {
        if (c.sending || c.queue.empty() || c.failed) return;
        size_t n = 0;
        for (const auto& chunk : c.queue)
            c.iov[n++] = {c.buffers.data(chunk.id) + chunk.offset, chunk.length};
        io_uring_sqe* s = loop_.sqe();
        s->fd = c.fd;
        s->msg_flags = MSG_NOSIGNAL;
        if (n == 1) {
            s->opcode = IORING_OP_SEND;
            s->addr = reinterpret_cast<uint64_t>(c.iov[0].iov_base);
            s->len = static_cast<unsigned>(c.iov[0].iov_len);
        } else {
            c.msg = {};
            c.msg.msg_iov = c.iov;
            c.msg.msg_iovlen = n;
            s->opcode = IORING_OP_SENDMSG;
            s->addr = reinterpret_cast<uint64_t>(&c.msg);
        }
        s->user_data = tag(&c, kSend);
        c.sending = true;
        ++c.in_flight;
    }

    void on_send(Connection& c, const io_uring_cqe& cqe) {
        c.sending = false;
        --c.in_flight;
        if (cqe.res < 0) {
            IOLADDER_LOG("fd %d: send: %s", c.fd, std::strerror(-cqe.res));
            c.failed = true;
            return finish_if_done(c);
        }
        // A stream send may be short: drop what went, keep the rest in order.
        unsigned sent = static_cast<unsigned>(cqe.res);
        auto it = c.queue.begin();
        for (; it != c.queue.end() && sent >= it->length; ++it) {
            sent -= it->length;
            c.buffers.give_back(it->id); // the kernel is done with it
        }
        c.queue.erase(c.queue.begin(), it);
        if (sent > 0) {
            c.queue.front().offset += sent;
            c.queue.front().length -= sent;
        }
        send_later(c); // the rest, if the send was short
        arm_recv(c);   // buffers came back: read again if the recv had stopped
        finish_if_done(c);
    }
    // [/snippet]

    // ---- closing ---------------------------------------------------------

    // [snippet: finish]
    // A connection ends after FIN with nothing left to echo, or after an
    // error. Its memory goes only when the kernel holds none of its
    // operations: a recv still in flight could write into a freed buffer.
    void finish_if_done(Connection& c) {
        bool done = c.failed || (c.eof && c.queue.empty());
        if (!done || c.waiting_to_send) return; // after_batch() calls again
        if (c.in_flight > 0) {
            if (!c.cancelling) { // each ends with -ECANCELED, or with its result if first
                if (c.recv_armed) cancel(tag(&c, kRecv));
                if (c.sending) cancel(tag(&c, kSend));
                c.cancelling = true;
            }
            return;
        }
        IOLADDER_LOG("fd %d: closed", c.fd);
        c.buffers.unregister();
        close(c.fd);
        connections_.erase(&c);
    }

    void cancel(uint64_t target) {
        io_uring_sqe* s = loop_.sqe();
        s->opcode = IORING_OP_ASYNC_CANCEL;
        s->addr = target; // the user_data of the operation to cancel
        s->user_data = tag(this, kCancel);
    }
    // [/snippet]

    // At SIGINT/SIGTERM: cancel what every connection has in flight, and wait
    // until the kernel has given each operation back before its buffers go
    // (at most a second: a timeout operation ends the wait).
    void shut_down() {
        std::vector<Connection*> all;
        for (auto& entry : connections_)
            all.push_back(entry.first);
        for (Connection* c : all) {
            c->failed = true;
            finish_if_done(*c);
        }
        static const __kernel_timespec one_s{1, 0};
        io_uring_sqe* s = loop_.sqe();
        s->opcode = IORING_OP_TIMEOUT;
        s->addr = reinterpret_cast<uint64_t>(&one_s);
        s->user_data = tag(this, kStop);
        bool expired = false;
        while (!connections_.empty() && !expired) {
            loop_.submit_and_wait();
            loop_.ring().for_each_cqe([&](const io_uring_cqe& cqe) {
                Kind k = kind_of(cqe.user_data);
                if (k == kRecv || k == kSend) dispatch(cqe);
                if (k == kStop && cqe.res == -ETIME) expired = true;
            });
            after_batch();
        }
        for (auto& entry : connections_) { // the kernel never answered: keep the memory
            close(entry.second->fd);
            (void)entry.second.release();
        }
    }

    EchoServer& server_;
    UringLoop loop_;
    bool multishot_;
    bool accept_armed_ = false;  // an accept is in flight (multishot or not)
    bool accept_paused_ = false; // backing off: a timeout is in flight
    SpareFd spare_;
    RateLimitedLog refused_{"accept"};
    RateLimitedLog failed_{"accept failed, retrying shortly"};
    std::unordered_map<Connection*, std::unique_ptr<Connection>> connections_;
    std::vector<Connection*> to_send_; // sends to make after this batch
};

} // namespace

int main(int argc, char** argv) {
    g_program = "echo_tcp_uring";
    bool single_shot = false, sqpoll = false;
    EchoServer server(
        argc, argv, "TCP echo server on io_uring: accept, recv and send as completions.",
        SOCK_STREAM,
        {Option::Flag("--single-shot", &single_shot,
                      "no multishot and no buffer ring: one accept and one recv at a time"),
         Option::Flag("--sqpoll", &sqpoll, "a kernel thread submits (IORING_SETUP_SQPOLL)")});
    Server echo(server, single_shot, sqpoll);
    announce(server.fd(), "tcp");
    echo.run();
    return 0;
}
