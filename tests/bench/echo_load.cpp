// echo_load.cpp: the load generator the bench uses. One thread, epoll.
//
//   echo_load --port P [--proto tcp|udp] [--conns C] [--depth D] [--size S]
//             [--duration SEC] [--warmup SEC] [--messages N] [--idle N] [--host ADDR]
//
// Opens C connections (TCP) or C connected sockets (UDP), keeps D messages of
// S bytes in flight on each, and checks every echoed byte against what was
// sent. With --duration it runs for a warm-up, then measures for SEC seconds;
// with --messages it stops after N echoed messages (for counted runs under
// strace). Prints one machine-readable line, then one for people:
//
//   msgs_per_s=812345 p50_us=61 p99_us=140 p999_us=400 errors=0 lost=0 cpu_s=1.93 ...
//
// (echoed= counts the messages completed inside the measuring window, total=
// those of the whole run, warm-up and drain included.)
//   tcp 64x16x64B: 812345 msg/s, p50 61 us, p99 140 us, p99.9 400 us, 0 errors
//
// TCP: each connection's stream is a known byte pattern, so a dropped,
// duplicated or reordered byte is an error. Latency is from the moment a
// message is queued for sending to the moment its last byte is back.
// UDP: each datagram carries (connection, sequence); a datagram not back
// within --loss-ms is counted lost and replaced, so the depth stays D.
// --idle N also opens N TCP connections that never send: they cost a server
// that rescans every descriptor per wakeup (select, poll) and not one that
// is told only about ready ones (epoll, kqueue, io_uring).
// Exit status: 0 when no errors, 1 on errors (or nothing echoed), 2 on usage.
#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <vector>

namespace {

struct Config {
    std::string host = "127.0.0.1";
    int port = 0;
    bool udp = false;
    int conns = 1;
    int depth = 1;
    std::size_t size = 64;
    double duration = 2.0;
    double warmup = 0.3;
    long messages = 0; // > 0: stop after this many instead of a duration
    int idle = 0;      // extra TCP connections that connect and then do nothing
    int loss_ms = 200;
};

[[noreturn]] void usage(const char* why) {
    if (why) std::fprintf(stderr, "echo_load: %s\n", why);
    std::fprintf(stderr, "usage: echo_load --port P [--proto tcp|udp] [--conns C] [--depth D] "
                         "[--size BYTES]\n"
                         "                 [--duration SEC] [--warmup SEC] [--messages N] "
                         "[--loss-ms MS] [--idle N] [--host ADDR]\n");
    std::exit(2);
}

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "echo_load: %s: %s\n", what, std::strerror(errno));
    std::exit(1);
}

double number(const char* flag, const char* text, double lo, double hi) {
    char* end = nullptr;
    double v = std::strtod(text, &end);
    if (!*text || *end || !(v >= lo && v <= hi)) {
        std::string why = std::string(flag) + ": not a number in range: '" + text + "'";
        usage(why.c_str());
    }
    return v;
}

Config parse(int argc, char** argv) {
    Config c;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--help" || a == "-h") usage(nullptr);
        if (i + 1 >= argc) usage(("missing value for " + a).c_str());
        const char* v = argv[++i];
        if (a == "--host")
            c.host = v;
        else if (a == "--port")
            c.port = static_cast<int>(number("--port", v, 1, 65535));
        else if (a == "--proto") {
            if (std::string(v) != "tcp" && std::string(v) != "udp") usage("--proto: tcp or udp");
            c.udp = std::string(v) == "udp";
        } else if (a == "--conns")
            c.conns = static_cast<int>(number("--conns", v, 1, 10000));
        else if (a == "--depth")
            c.depth = static_cast<int>(number("--depth", v, 1, 4096));
        else if (a == "--size")
            c.size = static_cast<std::size_t>(number("--size", v, 1, 65000));
        else if (a == "--duration")
            c.duration = number("--duration", v, 0.01, 3600);
        else if (a == "--warmup")
            c.warmup = number("--warmup", v, 0, 60);
        else if (a == "--messages")
            c.messages = static_cast<long>(number("--messages", v, 1, 1e12));
        else if (a == "--loss-ms")
            c.loss_ms = static_cast<int>(number("--loss-ms", v, 1, 60000));
        else if (a == "--idle")
            c.idle = static_cast<int>(number("--idle", v, 0, 100000));
        else
            usage(("unknown argument " + a).c_str());
    }
    if (c.port == 0) usage("--port is required");
    if (c.udp && c.size < 12) usage("--size: UDP datagrams carry a 12-byte header, so >= 12");
    return c;
}

int64_t now_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// Latency histogram with 1 us buckets up to 1 s (everything slower lands in
// the last bucket): exact percentiles at microsecond resolution, fixed memory.
class Histogram {
  public:
    Histogram() : buckets_(1'000'001) {}
    void add(int64_t ns) {
        auto us = static_cast<std::size_t>(std::max<int64_t>(ns, 0) / 1000);
        ++buckets_[std::min(us, buckets_.size() - 1)];
        ++count_;
    }
    long count() const { return count_; }
    long percentile_us(double p) const {
        if (count_ == 0) return 0;
        auto rank = static_cast<long>(std::ceil(p / 100.0 * static_cast<double>(count_)));
        long seen = 0;
        for (std::size_t i = 0; i < buckets_.size(); ++i) {
            seen += buckets_[i];
            if (seen >= rank) return static_cast<long>(i);
        }
        return static_cast<long>(buckets_.size() - 1);
    }

  private:
    std::vector<long> buckets_;
    long count_ = 0;
};

// The byte pattern: message k of connection c starts at offset (7k + c) % 251
// of a fixed random-looking block, so neighbouring messages differ.
struct Pattern {
    explicit Pattern(std::size_t size) : block(size + 256) {
        uint32_t x = 2463534242u;
        for (auto& b : block) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            b = static_cast<char>(x);
        }
    }
    const char* message(int conn, uint64_t k) const { return block.data() + (7 * k + conn) % 251; }
    std::vector<char> block;
};

struct Stats {
    Histogram latency;
    long echoed = 0; // messages completed inside the measuring window
    long total = 0;  // messages completed, all phases
    long errors = 0;
    long lost = 0;
    long late = 0;
};

struct Run {
    const Config& cfg;
    Pattern pattern;
    Stats stats;
    int ep = -1;
    int64_t window_start = 0, window_end = 0;
    bool issuing = true;

    explicit Run(const Config& c) : cfg(c), pattern(c.size) {}
    bool in_window(int64_t t) const { return t >= window_start && t < window_end; }
    void complete(int64_t sent_at, int64_t t) {
        ++stats.total;
        if (in_window(t)) {
            ++stats.echoed;
            stats.latency.add(t - sent_at);
        }
        if (cfg.messages > 0 && stats.total >= cfg.messages) issuing = false;
    }
};

sockaddr_in server_address(const Config& cfg) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(cfg.port));
    if (inet_pton(AF_INET, cfg.host.c_str(), &sa.sin_addr) != 1) usage("--host: IPv4 address");
    return sa;
}

// ---- TCP -----------------------------------------------------------------

struct TcpConn {
    int fd = -1;
    int id = 0;
    std::vector<char> out; // bytes queued, not yet accepted by the kernel
    std::size_t out_sent = 0;
    bool want_out = false;        // EPOLLOUT registered
    uint64_t next_send = 0;       // index of the next message to issue
    uint64_t next_recv = 0;       // index of the message being received
    std::size_t recv_off = 0;     // bytes of it received so far
    std::vector<int64_t> sent_at; // ring of issue times, indexed by message % depth
    bool dead = false;
};

void tcp_issue(Run& r, TcpConn& c, int64_t t) {
    while (r.issuing && c.next_send - c.next_recv < static_cast<uint64_t>(r.cfg.depth)) {
        const char* m = r.pattern.message(c.id, c.next_send);
        c.out.insert(c.out.end(), m, m + r.cfg.size);
        c.sent_at[c.next_send % c.sent_at.size()] = t;
        ++c.next_send;
    }
}

void tcp_kill(Run& r, TcpConn& c, const char* why) {
    if (c.dead) return;
    std::fprintf(stderr, "echo_load: connection %d: %s\n", c.id, why);
    ++r.stats.errors;
    c.dead = true;
    epoll_ctl(r.ep, EPOLL_CTL_DEL, c.fd, nullptr);
}

void tcp_flush(Run& r, TcpConn& c) {
    while (c.out_sent < c.out.size()) {
        ssize_t n = send(c.fd, c.out.data() + c.out_sent, c.out.size() - c.out_sent, MSG_NOSIGNAL);
        if (n > 0) {
            c.out_sent += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) break;
        return tcp_kill(r, c, std::strerror(errno));
    }
    if (c.out_sent == c.out.size()) {
        c.out.clear();
        c.out_sent = 0;
    } else if (c.out_sent > 64 * 1024) {
        c.out.erase(c.out.begin(), c.out.begin() + static_cast<std::ptrdiff_t>(c.out_sent));
        c.out_sent = 0;
    }
    bool want = !c.out.empty();
    if (want != c.want_out) {
        epoll_event ev{};
        ev.events = EPOLLIN | (want ? EPOLLOUT : 0u);
        ev.data.ptr = &c;
        epoll_ctl(r.ep, EPOLL_CTL_MOD, c.fd, &ev);
        c.want_out = want;
    }
}

void tcp_readable(Run& r, TcpConn& c, std::vector<char>& buf) {
    for (;;) {
        ssize_t n = recv(c.fd, buf.data(), buf.size(), 0);
        if (n == 0) return tcp_kill(r, c, "server closed the connection");
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) break;
            return tcp_kill(r, c, std::strerror(errno));
        }
        int64_t t = now_ns();
        std::size_t pos = 0, len = static_cast<std::size_t>(n);
        while (pos < len) {
            if (c.next_recv >= c.next_send) return tcp_kill(r, c, "echo of bytes never sent");
            std::size_t take = std::min(len - pos, r.cfg.size - c.recv_off);
            const char* want = r.pattern.message(c.id, c.next_recv) + c.recv_off;
            if (std::memcmp(buf.data() + pos, want, take) != 0)
                return tcp_kill(r, c, "echoed bytes differ from what was sent");
            pos += take;
            c.recv_off += take;
            if (c.recv_off == r.cfg.size) {
                r.complete(c.sent_at[c.next_recv % c.sent_at.size()], t);
                ++c.next_recv;
                c.recv_off = 0;
            }
        }
        tcp_issue(r, c, t);
        if (len < buf.size()) break; // short read: the socket is drained
    }
    tcp_flush(r, c);
}

std::vector<TcpConn> tcp_open(Run& r) {
    sockaddr_in sa = server_address(r.cfg);
    std::vector<TcpConn> conns(static_cast<std::size_t>(r.cfg.conns));
    for (int i = 0; i < r.cfg.conns; ++i) {
        TcpConn& c = conns[static_cast<std::size_t>(i)];
        c.id = i;
        c.sent_at.resize(static_cast<std::size_t>(r.cfg.depth));
        c.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c.fd < 0) fail("socket");
        if (connect(c.fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) fail("connect");
        int one = 1; // messages are small and latency matters: no Nagle delay
        setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (fcntl(c.fd, F_SETFL, fcntl(c.fd, F_GETFL) | O_NONBLOCK) < 0) fail("fcntl");
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.ptr = &c;
        if (epoll_ctl(r.ep, EPOLL_CTL_ADD, c.fd, &ev) < 0) fail("epoll_ctl");
    }
    return conns;
}

// ---- UDP -----------------------------------------------------------------

// A datagram is a 12-byte header (connection id, sequence number, size) and
// then the pattern for (connection, sequence), so any byte that changes, any
// datagram that belongs elsewhere, and any truncation is caught.
struct UdpSlot {
    uint32_t seq = 0;
    int64_t sent_at = 0;
    bool live = false;
};

struct UdpConn {
    int fd = -1;
    uint32_t id = 0;
    uint32_t next_seq = 0;
    int in_flight = 0;
    std::vector<UdpSlot> slots; // power of two, indexed by seq & (size - 1)
};

void put32(char* p, uint32_t v) {
    std::memcpy(p, &v, 4);
}
uint32_t get32(const char* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

void udp_issue(Run& r, UdpConn& c, std::vector<char>& scratch, int64_t t) {
    const std::size_t mask = c.slots.size() - 1;
    while (r.issuing && c.in_flight < r.cfg.depth) {
        UdpSlot& s = c.slots[c.next_seq & mask];
        if (s.live) { // still out after a full lap of sequence numbers: lost
            ++r.stats.lost;
            --c.in_flight;
        }
        put32(scratch.data(), c.id);
        put32(scratch.data() + 4, c.next_seq);
        put32(scratch.data() + 8, static_cast<uint32_t>(r.cfg.size));
        std::memcpy(scratch.data() + 12, r.pattern.message(static_cast<int>(c.id), c.next_seq),
                    r.cfg.size - 12);
        ssize_t n = send(c.fd, scratch.data(), r.cfg.size, 0);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR || errno == ENOBUFS) return; // retry later
            if (errno == ECONNREFUSED) { // an ICMP error from an earlier datagram
                ++r.stats.errors;
                std::fprintf(stderr, "echo_load: udp %u: server port unreachable\n", c.id);
                return;
            }
            fail("send");
        }
        s = UdpSlot{c.next_seq, t, true};
        ++c.next_seq;
        ++c.in_flight;
    }
}

void udp_readable(Run& r, UdpConn& c, std::vector<char>& buf, std::vector<char>& scratch) {
    const std::size_t mask = c.slots.size() - 1;
    for (;;) {
        ssize_t n = recv(c.fd, buf.data(), buf.size(), 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) break;
            if (errno == ECONNREFUSED) {
                ++r.stats.errors;
                std::fprintf(stderr, "echo_load: udp %u: server port unreachable\n", c.id);
                break;
            }
            fail("recv");
        }
        int64_t t = now_ns();
        uint32_t seq = get32(buf.data() + 4);
        UdpSlot& s = c.slots[seq & mask];
        bool header_ok = static_cast<std::size_t>(n) == r.cfg.size && get32(buf.data()) == c.id &&
                         get32(buf.data() + 8) == r.cfg.size;
        if (header_ok && !(s.live && s.seq == seq)) {
            ++r.stats.late; // already counted lost, or a duplicate
            continue;
        }
        if (!header_ok ||
            std::memcmp(buf.data() + 12, r.pattern.message(static_cast<int>(c.id), seq),
                        r.cfg.size - 12) != 0) {
            ++r.stats.errors;
            std::fprintf(stderr, "echo_load: udp %u: echoed datagram differs from any sent\n",
                         c.id);
            continue;
        }
        s.live = false;
        --c.in_flight;
        r.complete(s.sent_at, t);
    }
    udp_issue(r, c, scratch, now_ns());
}

// Datagrams not back within --loss-ms are lost; replace them to keep the depth.
void udp_expire(Run& r, UdpConn& c, std::vector<char>& scratch, int64_t t) {
    const int64_t limit = int64_t{r.cfg.loss_ms} * 1'000'000;
    for (UdpSlot& s : c.slots) {
        if (s.live && t - s.sent_at > limit) {
            s.live = false;
            --c.in_flight;
            ++r.stats.lost;
        }
    }
    udp_issue(r, c, scratch, t);
}

std::vector<UdpConn> udp_open(Run& r) {
    sockaddr_in sa = server_address(r.cfg);
    std::size_t slots = 1;
    while (slots < 4 * static_cast<std::size_t>(r.cfg.depth))
        slots *= 2;
    std::vector<UdpConn> conns(static_cast<std::size_t>(r.cfg.conns));
    for (int i = 0; i < r.cfg.conns; ++i) {
        UdpConn& c = conns[static_cast<std::size_t>(i)];
        c.id = static_cast<uint32_t>(i);
        c.slots.resize(slots);
        c.fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c.fd < 0) fail("socket");
        // connect(): recv() only sees the server's datagrams, and ICMP
        // "port unreachable" comes back as ECONNREFUSED.
        if (connect(c.fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) fail("connect");
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.ptr = &c;
        if (epoll_ctl(r.ep, EPOLL_CTL_ADD, c.fd, &ev) < 0) fail("epoll_ctl");
    }
    return conns;
}

double cpu_seconds() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    auto s = [](timeval tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; };
    return s(ru.ru_utime) + s(ru.ru_stime);
}

} // namespace

int main(int argc, char** argv) {
    const Config cfg = parse(argc, argv);
    Run r(cfg);
    r.ep = epoll_create1(EPOLL_CLOEXEC);
    if (r.ep < 0) fail("epoll_create1");

    const int64_t start = now_ns();
    if (cfg.messages > 0) {
        r.window_start = start;
        r.window_end = INT64_MAX;
    } else {
        r.window_start = start + static_cast<int64_t>(cfg.warmup * 1e9);
        r.window_end = r.window_start + static_cast<int64_t>(cfg.duration * 1e9);
    }

    std::vector<int> idle;
    if (cfg.idle > 0) {
        sockaddr_in sa = server_address(cfg);
        for (int i = 0; i < cfg.idle; ++i) {
            int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd < 0) fail("socket (idle connection)");
            if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0)
                fail("connect (idle connection)");
            idle.push_back(fd);
        }
    }
    std::vector<TcpConn> tcp;
    std::vector<UdpConn> udp;
    std::vector<char> buf(256 * 1024), scratch(cfg.size + 16);
    if (cfg.udp) {
        udp = udp_open(r);
        for (auto& c : udp)
            udp_issue(r, c, scratch, now_ns());
    } else {
        tcp = tcp_open(r);
        for (auto& c : tcp) {
            tcp_issue(r, c, now_ns());
            tcp_flush(r, c);
        }
    }

    // Run until the window closes (or N messages), then let the messages
    // still in flight come back (at most 2 s) so every byte is checked.
    std::vector<epoll_event> events(512);
    int64_t stopped_at = 0, last_sweep = start;
    for (;;) {
        int64_t t = now_ns();
        if (r.issuing && cfg.messages == 0 && t >= r.window_end) r.issuing = false;
        if (!r.issuing) {
            if (stopped_at == 0) stopped_at = t;
            bool drained = true;
            for (auto& c : tcp)
                drained = drained && (c.dead || c.next_recv == c.next_send);
            for (auto& c : udp)
                drained = drained && c.in_flight == 0;
            if (drained) break;
            if (t - stopped_at > 2'000'000'000) {
                for (auto& c : tcp) {
                    if (!c.dead && c.next_recv != c.next_send)
                        tcp_kill(r, c, "echo still missing 2 s after the run ended");
                }
                for (auto& c : udp)
                    r.stats.lost += c.in_flight;
                break;
            }
        }
        int n = epoll_wait(r.ep, events.data(), static_cast<int>(events.size()), 10);
        if (n < 0 && errno != EINTR) fail("epoll_wait");
        for (int i = 0; i < n; ++i) {
            if (cfg.udp) {
                udp_readable(r, *static_cast<UdpConn*>(events[i].data.ptr), buf, scratch);
                continue;
            }
            auto& c = *static_cast<TcpConn*>(events[i].data.ptr);
            if (c.dead) continue;
            if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                tcp_readable(r, c, buf);
            else if (events[i].events & EPOLLOUT)
                tcp_flush(r, c);
        }
        if (cfg.udp && now_ns() - last_sweep > 20'000'000) {
            last_sweep = now_ns();
            for (auto& c : udp)
                udp_expire(r, c, scratch, last_sweep);
        }
    }
    for (auto& c : tcp)
        close(c.fd);
    for (auto& c : udp)
        close(c.fd);
    for (int fd : idle)
        close(fd);
    close(r.ep);

    double window_s = cfg.messages > 0 ? static_cast<double>(now_ns() - start) / 1e9 : cfg.duration;
    double rate = static_cast<double>(r.stats.echoed) / window_s;
    const Histogram& h = r.stats.latency;
    std::printf("msgs_per_s=%.0f p50_us=%ld p99_us=%ld p999_us=%ld errors=%ld lost=%ld late=%ld "
                "cpu_s=%.3f echoed=%ld window_s=%.3f total=%ld\n",
                rate, h.percentile_us(50), h.percentile_us(99), h.percentile_us(99.9),
                r.stats.errors, r.stats.lost, r.stats.late, cpu_seconds(), r.stats.echoed, window_s,
                r.stats.total);
    std::printf("%s %dx%dx%zuB: %.0f msg/s, p50 %ld us, p99 %ld us, p99.9 %ld us, %ld errors, "
                "%ld lost\n",
                cfg.udp ? "udp" : "tcp", cfg.conns, cfg.depth, cfg.size, rate, h.percentile_us(50),
                h.percentile_us(99), h.percentile_us(99.9), r.stats.errors, r.stats.lost);
    return (r.stats.errors == 0 && r.stats.echoed > 0) ? 0 : 1;
}
