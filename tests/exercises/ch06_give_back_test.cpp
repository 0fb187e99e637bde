// Grades the ch06 give_back exercise (chapters/06-uring/exercises/give_back.hpp)
// with buffer rings registered on a real ring (IORING_REGISTER_PBUF_RING),
// which the kernel reads when single-shot receives select buffers from them;
// datagrams over loopback UDP, so each receive takes exactly one buffer.
// And once on a ring laid out in plain memory, under an AccessLog, to see
// the order of the stores.
#include "catch_compat.hpp"
#include "ch06_uring_support.hpp"
#include "give_back.hpp"
#include "support.hpp"

#include <cstring>
#include <string>
#include <sys/mman.h>
#include <vector>

using namespace ioladder::test;
using namespace ioladder::test::uring;
using ioladder::ch06::BufRing;
using ioladder::ch06::give_back;
using ioladder::ch06::Returned;
using ioladder::uring::sys_io_uring_register;

namespace {

constexpr uint16_t kGroup = 3;
constexpr unsigned kSize = 64; // bytes per buffer

// `entries` buffers of kSize bytes behind a ring of as many entries,
// registered as group kGroup with the raw call. The exercise fills the ring.
class Registered {
  public:
    Registered(Ring& ring, unsigned entries) : ring_(ring) {
        ring_bytes_ = (entries * sizeof(io_uring_buf) + 4095) / 4096 * 4096;
        len_ = ring_bytes_ + entries * kSize;
        void* m = ::mmap(nullptr, len_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) fail_errno("mmap");
        mem_ = static_cast<char*>(m);
        io_uring_buf_reg reg{};
        reg.ring_addr = reinterpret_cast<uint64_t>(mem_);
        reg.ring_entries = entries;
        reg.bgid = kGroup;
        registered_ = sys_io_uring_register(ring.fd(), IORING_REGISTER_PBUF_RING, &reg, 1) == 0;
        error_ = errno;
        view = BufRing{mem_, entries, 0};
    }
    ~Registered() {
        if (registered_) {
            io_uring_buf_reg reg{};
            reg.bgid = kGroup;
            sys_io_uring_register(ring_.fd(), IORING_UNREGISTER_PBUF_RING, &reg, 1);
        }
        ::munmap(mem_, len_);
    }
    Registered(const Registered&) = delete;
    Registered& operator=(const Registered&) = delete;

    // Why the kernel refused the ring, or nothing.
    std::optional<std::string> refused() const {
        if (registered_) return std::nullopt;
        return std::string("IORING_REGISTER_PBUF_RING: ") + std::strerror(error_) +
               (error_ == EINVAL ? " (provided-buffer rings need Linux 5.19)" : "");
    }
    char* buffer(unsigned id) { return mem_ + ring_bytes_ + std::size_t{id} * kSize; }
    Returned returned(uint16_t id) { return Returned{id, buffer(id), kSize}; }

    BufRing view{};

  private:
    Ring& ring_;
    char* mem_ = nullptr;
    std::size_t ring_bytes_ = 0, len_ = 0;
    bool registered_ = false;
    int error_ = 0;
};

// Two UDP sockets on 127.0.0.1, connected to each other.
struct UdpPair {
    Fd a = udp_socket(), b = udp_socket();
    UdpPair() {
        sockaddr_in to_b = local_address(b.get()), to_a = local_address(a.get());
        if (::connect(a.get(), reinterpret_cast<sockaddr*>(&to_b), sizeof to_b) < 0 ||
            ::connect(b.get(), reinterpret_cast<sockaddr*>(&to_a), sizeof to_a) < 0)
            fail_errno("connect");
    }
    // Sends each message as one datagram from a to b, in one call.
    void send(const std::vector<std::string>& messages) {
        std::vector<iovec> iov(messages.size());
        std::vector<mmsghdr> msgs(messages.size());
        for (std::size_t i = 0; i < messages.size(); ++i) {
            iov[i] = {const_cast<char*>(messages[i].data()), messages[i].size()};
            msgs[i] = {};
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        int n = ::sendmmsg(a.get(), msgs.data(), static_cast<unsigned>(msgs.size()), 0);
        if (n < 0) fail_errno("sendmmsg");
        REQUIRE(n == static_cast<int>(messages.size()));
    }
};

// A UDP pair, a ring, and a buffer ring of `entries` registered on it.
struct Rig {
    explicit Rig(unsigned entries) : r(ring, entries) {}
    UdpPair udp;
    Ring ring{Ring::Setup{}};
    Registered r;
};

// Submits `n` single-shot receives on `fd` that select a buffer from
// kGroup, and returns their CQEs (user_data 1..n): each takes the next
// datagram into the next buffer of the ring, or fails with -ENOBUFS.
std::vector<io_uring_cqe> receive(Ring& ring, int fd, unsigned n) {
    for (unsigned i = 1; i <= n; ++i) {
        io_uring_sqe* s = next_sqe(ring);
        s->opcode = IORING_OP_RECV;
        s->fd = fd;
        s->flags = IOSQE_BUFFER_SELECT;
        s->buf_group = kGroup;
        s->user_data = i;
    }
    std::vector<io_uring_cqe> got = collect(ring, n);
    REQUIRE(got.size() == n);
    return got;
}

void give(BufRing& ring, const std::vector<Returned>& buffers) {
    STEP("give_back");
    give_back(ring, buffers);
}

// One CQE that must report `message` in buffer `id`.
void check_received(Registered& r, const io_uring_cqe& c, uint16_t id, const std::string& message) {
    INFO("CQE res " << c.res << (c.res < 0 ? std::string(" (") + std::strerror(-c.res) + ")" : "")
                    << ", flags 0x" << std::hex << c.flags << std::dec);
    INFO("expected buffer " << id << " with \"" << message << "\"");
    REQUIRE(c.res == static_cast<int>(message.size()));
    REQUIRE((c.flags & IORING_CQE_F_BUFFER) != 0);
    REQUIRE((c.flags >> IORING_CQE_BUFFER_SHIFT) == id);
    REQUIRE(bytes(r.buffer(id), message.size()) == message);
}

} // namespace

TEST_CASE("an empty ring fails a receive with ENOBUFS, and two buffers given back serve two",
          "[exercise][ch06]") {
    IOLADDER_NEEDS_URING();
    Rig rig(8);
    if (auto why = rig.r.refused()) IOLADDER_SKIP(*why);
    auto& [udp, ring, r] = rig;

    udp.send({"first"});
    std::vector<io_uring_cqe> got = receive(ring, udp.b.get(), 1);
    {
        INFO("nothing given back yet: res " << got[0].res);
        REQUIRE(got[0].res == -ENOBUFS); // and the datagram waits
    }

    give(r.view, {r.returned(5), r.returned(2)});
    CHECK(r.view.tail == 2);
    check_received(r, receive(ring, udp.b.get(), 1)[0], 5, "first");
    udp.send({"second!"});
    check_received(r, receive(ring, udp.b.get(), 1)[0], 2, "second!");
    udp.send({"third"});
    INFO("two were given back and two are used: the ring must be empty again");
    CHECK(receive(ring, udp.b.get(), 1)[0].res == -ENOBUFS);
}

TEST_CASE("buffers are taken in the order they were given back, lap after lap of the ring",
          "[exercise][ch06]") {
    IOLADDER_NEEDS_URING();
    Rig rig(8);
    if (auto why = rig.r.refused()) IOLADDER_SKIP(*why);
    auto& [udp, ring, r] = rig;
    unsigned total = 0;
    for (unsigned round = 0; round < 12; ++round) {
        const unsigned n = 3 + round % 6; // 3 to 8 at a time
        std::vector<Returned> batch;
        std::vector<std::string> messages;
        for (unsigned k = 0; k < n; ++k) {
            batch.push_back(r.returned(static_cast<uint16_t>((k * 5 + round) % 8)));
            messages.push_back("r" + std::to_string(round) + "-" + std::to_string(k));
        }
        INFO("round " << round << ": " << n << " buffers, from counter " << total);
        give(r.view, batch);
        total += n;
        REQUIRE(r.view.tail == total);
        udp.send(messages);
        std::vector<io_uring_cqe> got = receive(ring, udp.b.get(), n);
        for (unsigned k = 0; k < n; ++k)
            check_received(r, got[k], batch[k].id, messages[k]);
    }
}

TEST_CASE("the 16-bit tail wraps past 65535 and the kernel follows it", "[exercise][ch06]") {
    IOLADDER_NEEDS_URING();
    constexpr unsigned kEntries = 64;
    Rig rig(kEntries);
    if (auto why = rig.r.refused()) IOLADDER_SKIP(*why);
    auto& [udp, ring, r] = rig;
    // 1030 batches of 64: 65920 buffers, so the tail passes 65535 and
    // goes on from 0, and the ring goes round 1030 times.
    for (unsigned round = 0; round < 1030; ++round) {
        std::vector<Returned> batch;
        std::vector<std::string> messages;
        for (unsigned k = 0; k < kEntries; ++k) {
            batch.push_back(r.returned(static_cast<uint16_t>((k * 37 + round) % kEntries)));
            messages.push_back(std::to_string(round) + "." + std::to_string(k));
        }
        INFO("round " << round << ", tail before it " << r.view.tail);
        const uint16_t before = r.view.tail;
        give(r.view, batch);
        REQUIRE(r.view.tail == static_cast<uint16_t>(before + kEntries));
        udp.send(messages);
        std::vector<io_uring_cqe> got = receive(ring, udp.b.get(), kEntries);
        for (unsigned k = 0; k < kEntries; ++k)
            check_received(r, got[k], batch[k].id, messages[k]);
    }
    CHECK(r.view.tail == static_cast<uint16_t>(1030 * kEntries));
}

TEST_CASE("the tail is published by one store, after every entry it covers has been written",
          "[exercise][ch06]") {
    IOLADDER_NEEDS_ACCESS_LOG();
    // A ring of 8 entries in plain memory: seven buffers were published
    // before (tail 7), and three more go in at entries 7, 0 and 1.
    void* m = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(m != MAP_FAILED);
    auto* slots = static_cast<io_uring_buf*>(m);
    uint16_t* tail = &slots[0].resv;
    *tail = 7;
    BufRing ring{m, 8, 7};
    char data[3][kSize];
    const std::vector<Returned> batch{
        {11, data[0], kSize}, {12, data[1], kSize}, {13, data[2], 32}};
    std::vector<AccessLog::Access> log;
    {
        AccessLog watch({{m, PROT_READ, tail, 2}}); // every write logged, with the tail after it
        give(ring, batch);
        log = watch.accesses();
        REQUIRE_FALSE(watch.overflowed()); // more accesses than the log holds
    }
    std::string seen;
    int changes = 0;
    std::size_t last_change = 0;
    uint16_t value = 7;
    for (std::size_t i = 0; i < log.size(); ++i) {
        seen += " " + std::to_string(log[i].offset) + (log[i].value != value ? "*" : "");
        if (log[i].value != value) {
            ++changes;
            last_change = i;
            value = static_cast<uint16_t>(log[i].value);
        }
    }
    INFO("offsets written, in order (* marks a write that changed the tail):" << seen);
    CHECK(ring.tail == 10);
    CHECK(*tail == 10);
    const unsigned at[3] = {7, 0, 1};
    for (unsigned k = 0; k < 3; ++k) {
        INFO("buffer " << batch[k].id << " belongs in entry " << at[k] << ", at byte "
                       << at[k] * sizeof(io_uring_buf) << " of the ring");
        CHECK(slots[at[k]].addr == reinterpret_cast<uint64_t>(batch[k].addr));
        CHECK(slots[at[k]].len == batch[k].len);
        CHECK(slots[at[k]].bid == batch[k].id);
    }
    {
        INFO("the tail moves once, from 7 to 10: any other value, even for a moment, is one the "
             "kernel may read");
        CHECK(changes == 1);
    }
    {
        INFO("an entry written after the tail covers it may be read half-written");
        CHECK(last_change + 1 == log.size());
    }
    ::munmap(m, 4096);
}
