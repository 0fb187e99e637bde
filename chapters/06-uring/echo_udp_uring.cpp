// echo_udp_uring.cpp: a UDP echo server on io_uring.
//
// What it shows
//   - The queue *is* the buffer ring. The 64 slots that every UDP server in
//     this book keeps for datagrams waiting to be echoed are handed to the
//     kernel as a provided-buffer ring. One multishot recvmsg fills them, a
//     datagram per CQE; each slot is echoed by a sendmsg straight from where
//     it was received, and goes back to the ring when that send completes.
//     When all 64 wait to be sent, the recvmsg ends with -ENOBUFS and the
//     kernel keeps (or drops) further datagrams in the socket buffer, as
//     when the other servers stop reading. We submit it again once a slot
//     comes back.
//   - A multishot recvmsg writes a small header (struct io_uring_recvmsg_out)
//     and the sender's address in front of the payload, all in the selected
//     buffer. The header's flags say MSG_TRUNC when the datagram did not fit:
//     it is logged and dropped, never echoed cut short.
//   - Under strace: io_uring_enter, and no recvmsg or sendmsg.
//
//   --single-shot  no multishot, no buffer ring: up to 8 recvmsg in flight,
//                  each into a slot we pick (kernels before 6.0).
//
// Run it
//   ./build/default/chapters/06-uring/echo_udp_uring --port 2000 -v
//   nc -u 127.0.0.1 2000
#include "buffers.hpp"
#include "echo_common.hpp"
#include "udp_queue.hpp"
#include "uring_server.hpp"

#include <array>
#include <cstring>
#include <linux/time_types.h>

using namespace ioladder;
using namespace ioladder::uring;

namespace {

// A slot holds what recvmsg writes: header, sender, datagram (the header is
// unused by a single-shot recvmsg, which fills the msghdr instead).
constexpr unsigned kNameRoom = sizeof(sockaddr_storage);
constexpr unsigned kSlotSize = sizeof(io_uring_recvmsg_out) + kNameRoom + kMaxDatagram;
constexpr unsigned kSingleShotDepth = 8; // recvmsg in flight without multishot

// The msghdr and iovec of the operation that owns a slot: its recvmsg
// (single shot), then the sendmsg that echoes it.
struct Slot {
    msghdr msg;
    iovec iov;
};

class Server {
  public:
    Server(EchoServer& server, bool single_shot)
        : server_(server), loop_(server, false), buffers_(kQueueSlots, kSlotSize) {
        if (!single_shot && !buffers_.provide_to_kernel(loop_.ring(), 0))
            warn("provided-buffer rings are not supported here (%s): single-shot recvmsg",
                 std::strerror(errno));
        IOLADDER_LOG("%s", buffers_.kernel_picks() ? "multishot recvmsg, buffer ring of 64 slots"
                                                   : "single-shot recvmsg into our own slots");
        arm_recv();
    }

    void run() {
        loop_.run([this](const io_uring_cqe& cqe) { dispatch(cqe); }, [] {});
        shut_down();
    }

  private:
    // Two kinds of completions: a datagram in, an echo out.
    void dispatch(const io_uring_cqe& cqe) {
        Kind kind = kind_of(cqe.user_data);
        if (kind == kRecv) on_recv(cqe);
        if (kind == kSend) on_send(cqe);
    }

    // The slots may be freed only when the kernel holds none of them: cancel
    // every operation, and reap until each has reported (at most a second).
    void shut_down() {
        stopping_ = true;
        io_uring_sqe* s = loop_.sqe();
        s->opcode = IORING_OP_ASYNC_CANCEL;
        s->cancel_flags = IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL; // 5.19
        s->user_data = tag(this, kCancel);
        static const __kernel_timespec one_s{1, 0};
        s = loop_.sqe();
        s->opcode = IORING_OP_TIMEOUT;
        s->addr = reinterpret_cast<uint64_t>(&one_s);
        s->user_data = tag(this, kTimer);
        bool expired = false;
        while ((recvs_ > 0 || sends_ > 0) && !expired) {
            loop_.submit_and_wait();
            loop_.ring().for_each_cqe([&](const io_uring_cqe& cqe) {
                if (kind_of(cqe.user_data) == kTimer)
                    expired = true;
                else
                    dispatch(cqe);
            });
        }
    }

    // [snippet: udp-recv]
    void arm_recv() {
        if (stopping_) return;
        if (buffers_.kernel_picks()) {
            if (recvs_ > 0) return;
            // What recvmsg may write in front of each datagram: room for the
            // sender's address, none for control messages.
            recv_template_ = {};
            recv_template_.msg_namelen = kNameRoom;
            io_uring_sqe* s = loop_.sqe();
            s->opcode = IORING_OP_RECVMSG;
            s->fd = server_.fd();
            s->addr = reinterpret_cast<uint64_t>(&recv_template_);
            s->flags = IOSQE_BUFFER_SELECT;
            s->buf_group = buffers_.group();
            s->ioprio = IORING_RECV_MULTISHOT; // 6.0
            s->user_data = tag(this, kRecv);
            ++recvs_;
            return;
        }
        while (recvs_ < kSingleShotDepth) {
            int id = buffers_.take();
            if (id < 0) return; // every slot is waiting to be echoed
            Slot& slot = slots_[id];
            char* room = buffers_.data(id);
            slot.iov = {room + kNameRoom, kMaxDatagram};
            slot.msg = {};
            slot.msg.msg_name = room;
            slot.msg.msg_namelen = kNameRoom;
            slot.msg.msg_iov = &slot.iov;
            slot.msg.msg_iovlen = 1;
            io_uring_sqe* s = loop_.sqe();
            s->opcode = IORING_OP_RECVMSG;
            s->fd = server_.fd();
            s->addr = reinterpret_cast<uint64_t>(&slot.msg);
            s->user_data = tag(&slot, kRecv);
            ++recvs_;
        }
    }

    void on_recv(const io_uring_cqe& cqe) {
        bool multishot = buffers_.kernel_picks();
        if (!multishot || !(cqe.flags & IORING_CQE_F_MORE)) --recvs_;
        if (cqe.res < 0) {
            if (!multishot) buffers_.give_back(slot_id(cqe));
            if (cqe.res == -EINVAL && multishot) {
                warn("multishot recvmsg is not supported here (EINVAL): single-shot from now on");
                buffers_.unregister();
            } else if (cqe.res != -ENOBUFS) {
                IOLADDER_LOG("recvmsg: %s", std::strerror(-cqe.res));
            }
        } else if (multishot) {
            echo_from_ring(cqe);
        } else {
            uint16_t id = slot_id(cqe);
            echo(id, slots_[id].msg.msg_flags & MSG_TRUNC, cqe.res);
        }
        // After -ENOBUFS, only if a slot came back since the kernel looked
        // (a send completed earlier in this batch); otherwise on_send re-arms
        // when one does.
        if (cqe.res != -ENOBUFS || sends_ < kQueueSlots) arm_recv();
    }

    uint16_t slot_id(const io_uring_cqe& cqe) {
        return static_cast<uint16_t>(owner_of<Slot>(cqe.user_data) - slots_.data());
    }

    // A multishot recvmsg's buffer: the header, then the sender's address
    // (in the room the template asked for), then the datagram.
    void echo_from_ring(const io_uring_cqe& cqe) {
        unsigned id = cqe.flags >> IORING_CQE_BUFFER_SHIFT;
        char* room = buffers_.data(id);
        io_uring_recvmsg_out out;
        std::memcpy(&out, room, sizeof out);
        Slot& slot = slots_[id];
        slot.msg = {};
        slot.msg.msg_name = room + sizeof out;
        slot.msg.msg_namelen = std::min<unsigned>(out.namelen, kNameRoom);
        slot.iov.iov_base = room + sizeof out + kNameRoom;
        echo(id, out.flags & MSG_TRUNC, static_cast<int>(out.payloadlen));
    }
    // [/snippet]

    // [snippet: udp-send]
    // Echoes slot `id` (its msg_name already set): a sendmsg straight from
    // where the datagram was received. Truncated datagrams are dropped.
    void echo(unsigned id, bool truncated, int length) {
        Slot& slot = slots_[id];
        if (truncated) {
            warn("dropped a datagram from %s: truncated, larger than the %zu-byte buffer",
                 address_text(*static_cast<sockaddr_storage*>(slot.msg.msg_name)).c_str(),
                 kMaxDatagram);
            return buffers_.give_back(id);
        }
        slot.iov.iov_len = static_cast<size_t>(length);
        slot.msg.msg_iov = &slot.iov;
        slot.msg.msg_iovlen = 1;
        slot.msg.msg_control = nullptr;
        slot.msg.msg_controllen = 0;
        io_uring_sqe* s = loop_.sqe();
        s->opcode = IORING_OP_SENDMSG;
        s->fd = server_.fd();
        s->addr = reinterpret_cast<uint64_t>(&slot.msg);
        s->user_data = tag(&slot, kSend);
        ++sends_;
    }

    void on_send(const io_uring_cqe& cqe) {
        if (cqe.res < 0) IOLADDER_LOG("sendmsg: %s (datagram dropped)", std::strerror(-cqe.res));
        --sends_;
        buffers_.give_back(slot_id(cqe)); // the kernel is done with it
        arm_recv();                       // if it had stopped for want of a slot
    }
    // [/snippet]

    EchoServer& server_;
    UringLoop loop_;
    Buffers buffers_;
    std::array<Slot, kQueueSlots> slots_{};
    msghdr recv_template_{};
    unsigned recvs_ = 0; // recvmsg in flight
    unsigned sends_ = 0; // sendmsg in flight
    bool stopping_ = false;
};

} // namespace

int main(int argc, char** argv) {
    g_program = "echo_udp_uring";
    bool single_shot = false;
    EchoServer server(
        argc, argv, "UDP echo server on io_uring: recvmsg and sendmsg as completions.", SOCK_DGRAM,
        {Option::Flag("--single-shot", &single_shot,
                      "no multishot and no buffer ring: recvmsg into our own slots")});
    Server echo(server, single_shot);
    announce(server.fd(), "udp");
    echo.run();
    return 0;
}
