// faults_test.cpp: the fault-injection suite. Every registered echo server
// runs under strace, which makes chosen system calls fail without running
// them (-e inject=CALLS:error=ERRNO:when=FIRST..LAST+STEP): the server sees
// the error exactly as if the kernel had returned it, and nothing in the
// server is changed or rebuilt for the test.
//
// The faults are errors the man pages list for these calls: EINTR on the
// wait call (a caught signal interrupts select, poll and epoll_wait whether
// or not SA_RESTART is set), on recv and on send (listed for both; a
// non-blocking socket seldom sees it, but nothing promises never); ENOBUFS
// and ENOMEM on accept4 (no memory for the new socket; the connection stays
// queued); ENOMEM on epoll_ctl (no memory for the watch); for io_uring
// servers, EINTR, EAGAIN and EBUSY on io_uring_enter instead of the recv,
// send and accept faults (the kernel does that I/O). Each test fails every
// second or third such call for a while, then stops.
//
// The oracle, for TCP: the server stays alive; every client is either served
// byte-exact or closed cleanly (EOF or reset, with whatever came back a
// prefix of what it sent), never left hanging; and once the faults have
// stopped, fresh clients are served. For UDP: every echo that comes back is
// an exact copy of a datagram the client sent (datagrams may be lost), and a
// fresh datagram is echoed once the faults have stopped.
//
// The cases are made when the program starts, one per server and fault, from
// the registered server list, so a server added in a later chapter is covered
// without touching this file. Each prints its result as a figure line:
//
//   ctest --preset default -L faults -V | grep 'figure:'
#include "catch_compat.hpp"
#include "harness.hpp"
#include "hostile.hpp"
#include "strace.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <elf.h>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <poll.h>
#include <stdexcept>
#include <string>
#include <sys/socket.h>
#include <vector>

namespace {

using namespace ioladder::test;
using Clock = std::chrono::steady_clock;
using std::chrono::seconds;

// The calls a server may block in; whichever it uses gets the fault.
const std::vector<std::string> kWaitCalls = {"select",       "pselect6",      "poll",
                                             "ppoll",        "epoll_wait",    "epoll_pwait",
                                             "epoll_pwait2", "io_uring_enter"};

struct Fault {
    std::string key;                // for the figure line: "recv"
    std::string sentence;           // what the server does, after its name
    std::vector<std::string> calls; // the system calls made to fail
    std::string error;              // the errno they fail with
    int step;                       // calls step, 2*step, ... fail
    int last;                       // up to this call (per call name, per thread)
    bool retry = false; // the error only asks for the call again: no client may be dropped
    bool tcp_only = false;
    bool epoll_only = false; // only servers that call epoll_ctl
    // io_uring servers make no recv, send or accept call (the kernel does the
    // I/O); their faults are io_uring_enter's own.
    bool readiness_only = false;
    bool uring_only = false;
};

const std::vector<Fault> kFaults = {
    {.key = "wait",
     .sentence = "keeps serving when every second wait call fails with EINTR",
     .calls = kWaitCalls,
     .error = "EINTR",
     .step = 2,
     .last = 40,
     .retry = true},
    {.key = "recv",
     .sentence = "keeps serving when every second recv fails with EINTR",
     .calls = {"recvfrom", "recvmsg"},
     .error = "EINTR",
     .step = 2,
     .last = 40,
     .retry = true,
     .readiness_only = true},
    {.key = "send",
     .sentence = "keeps serving when every second send fails with EINTR",
     .calls = {"sendto", "sendmsg"},
     .error = "EINTR",
     .step = 2,
     .last = 40,
     .retry = true,
     .readiness_only = true},
    {.key = "accept4",
     .sentence = "keeps accepting when every third accept4 fails with ENOBUFS",
     .calls = {"accept4", "accept"},
     .error = "ENOBUFS",
     .step = 3,
     .last = 30,
     .tcp_only = true,
     .readiness_only = true},
    {.key = "accept4",
     .sentence = "keeps accepting when every third accept4 fails with ENOMEM",
     .calls = {"accept4", "accept"},
     .error = "ENOMEM",
     .step = 3,
     .last = 30,
     .tcp_only = true,
     .readiness_only = true},
    // A connection whose registration failed may be closed: that is a clean
    // answer, and what the servers do.
    {.key = "epoll_ctl",
     .sentence = "keeps serving when every third epoll_ctl fails with ENOMEM",
     .calls = {"epoll_ctl"},
     .error = "ENOMEM",
     .step = 3,
     .last = 30,
     .tcp_only = true,
     .epoll_only = true},
    // io_uring_enter(2): EAGAIN, "the kernel was unable to allocate memory
    // for the request ... wait for some completions and try again"; EBUSY,
    // completions are held that did not fit in the CQ. An injected failure
    // submits nothing: the SQEs stay in the ring for the next call.
    {.key = "io_uring_enter",
     .sentence = "keeps serving when every third io_uring_enter fails with EAGAIN",
     .calls = {"io_uring_enter"},
     .error = "EAGAIN",
     .step = 3,
     .last = 60,
     .retry = true,
     .uring_only = true},
    {.key = "io_uring_enter",
     .sentence = "keeps serving when every third io_uring_enter fails with EBUSY",
     .calls = {"io_uring_enter"},
     .error = "EBUSY",
     .step = 3,
     .last = 60,
     .retry = true,
     .uring_only = true},
};

const milliseconds kWaveTimeout{4000}; // a client not done by then is hanging

// ---- strace ----------------------------------------------------------------

// "?a,?b": the '?' keeps strace from refusing a name this kernel lacks.
std::string call_set(const std::vector<std::string>& calls) {
    std::string set;
    for (auto& c : calls)
        set += (set.empty() ? "?" : ",?") + c;
    return set;
}

// The server under strace, tracing only `traced` (so the trace stays small
// and, with --seccomp-bpf, the other calls run at full speed), and with
// `inject` added when it is not empty.
StartOptions traced_options(const std::string& trace, const std::vector<std::string>& traced,
                            const std::string& inject) {
    StartOptions o = strace_options(trace);
    std::vector<std::string> extra = {"--seccomp-bpf", "-e", "trace=" + call_set(traced)};
    if (!inject.empty()) extra.insert(extra.end(), {"-e", "inject=" + inject});
    o.wrapper.insert(o.wrapper.begin() + 1, extra.begin(), extra.end());
    return o;
}

// Calls per name so far, from the trace strace is still writing.
std::map<std::string, long> call_counts(const std::string& trace) {
    return parse_strace_file(trace).counts;
}

// How many calls of `name` the server makes while starting, before its first
// wait: a fault counted from there on hits the serving, not the set-up,
// which may legitimately give up (a server that cannot register its listening
// socket exits with a message).
long startup_calls(const ServerInfo& server, const std::string& name) {
    std::string trace = temp_path("faults-startup-" + server.name) + ".txt";
    std::vector<std::string> traced = kWaitCalls;
    traced.push_back(name);
    long count = -1;
    {
        auto proc = ServerProcess::start(server, traced_options(trace, traced, ""));
        // Idle in its loop once a wait call shows.
        wait_until(
            [&] {
                for (auto& c : parse_strace_file(trace).calls)
                    if (std::count(kWaitCalls.begin(), kWaitCalls.end(), c.name)) return true;
                return false;
            },
            seconds(5));
        proc.stop();
    }
    long seen = 0;
    for (auto& c : parse_strace_file(trace).calls) {
        if (std::count(kWaitCalls.begin(), kWaitCalls.end(), c.name)) {
            count = seen;
            break;
        }
        if (c.name == name) ++seen;
    }
    std::remove(trace.c_str());
    if (count < 0) throw std::runtime_error(server.name + ": no wait call in its start-up trace");
    return count;
}

// Does the program call `symbol` from a shared library? True when its
// dynamic symbol table lists the name as undefined (imported). A program
// that is not a 64-bit ELF file is judged by its name. Under ThreadSanitizer
// every program defines epoll_ctl itself (the interceptor), so none imports
// it and the epoll_ctl cases are not made there.
bool imports(const ServerInfo& server, const std::string& symbol) {
    std::ifstream in(server.path, std::ios::binary);
    std::string elf((std::istreambuf_iterator<char>(in)), {});
    Elf64_Ehdr eh{};
    if (elf.size() < sizeof eh) return server.name.find("epoll") != std::string::npos;
    std::memcpy(&eh, elf.data(), sizeof eh);
    if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
        eh.e_shoff + size_t{eh.e_shnum} * sizeof(Elf64_Shdr) > elf.size())
        return server.name.find("epoll") != std::string::npos;
    auto section = [&](size_t i) {
        Elf64_Shdr sh{};
        std::memcpy(&sh, elf.data() + eh.e_shoff + i * sizeof sh, sizeof sh);
        return sh;
    };
    for (size_t i = 0; i < eh.e_shnum; ++i) {
        Elf64_Shdr sh = section(i);
        if (sh.sh_type != SHT_DYNSYM || sh.sh_link >= eh.e_shnum) continue;
        Elf64_Shdr names = section(sh.sh_link);
        if (sh.sh_offset + sh.sh_size > elf.size() || names.sh_offset + names.sh_size > elf.size())
            continue;
        for (size_t at = sh.sh_offset; at + sizeof(Elf64_Sym) <= sh.sh_offset + sh.sh_size;
             at += sizeof(Elf64_Sym)) {
            Elf64_Sym sym{};
            std::memcpy(&sym, elf.data() + at, sizeof sym);
            if (sym.st_shndx != SHN_UNDEF || sym.st_name >= names.sh_size) continue;
            if (symbol == elf.c_str() + names.sh_offset + sym.st_name) return true;
        }
    }
    return false;
}

std::string lines(const std::vector<std::string>& items) {
    std::string text;
    for (auto& i : items)
        text += "  " + i + "\n";
    return text;
}

// ---- TCP clients -----------------------------------------------------------

enum class End { running, served, closed, hung, corrupt };

struct Client {
    std::optional<TcpClient> socket;
    std::string out;                  // everything it sends
    std::vector<size_t> request_ends; // it sends request k+1 after echo k is back
    size_t sent = 0;
    std::string in;
    End end = End::running;
    std::string note;

    // How far it may have sent: to the end of the first request not yet echoed.
    size_t may_send() const {
        for (size_t e : request_ends)
            if (e > in.size()) return e;
        return out.size();
    }
    void finish(End how, std::string why) {
        end = how;
        note = std::move(why);
        socket.reset();
    }
};

Client make_client(uint16_t port, uint64_t seed, std::vector<size_t> requests) {
    Client c;
    size_t total = 0;
    for (size_t r : requests)
        c.request_ends.push_back(total += r);
    c.out = pattern_bytes(seed, total);
    try {
        c.socket.emplace(port, seconds(4));
    } catch (const std::exception& e) {
        // A refused connection is a clean answer; one that never completes
        // is a hang.
        std::string what = e.what();
        c.finish(what.find("timed out") != std::string::npos ? End::hung : End::closed, what);
    }
    return c;
}

void on_readable(Client& c) {
    char buf[65536];
    for (;;) {
        ssize_t n = ::recv(c.socket->fd(), buf, sizeof buf, 0);
        if (n > 0) {
            size_t at = c.in.size();
            c.in.append(buf, static_cast<size_t>(n));
            if (c.in.size() > c.out.size() ||
                c.out.compare(at, static_cast<size_t>(n), buf, static_cast<size_t>(n)) != 0)
                return c.finish(End::corrupt,
                                describe_mismatch(c.out.substr(0, c.in.size()), c.in));
            if (c.in.size() == c.out.size()) return c.finish(End::served, "");
            continue;
        }
        if (n == 0)
            return c.finish(End::closed, "EOF after " + std::to_string(c.in.size()) + " of " +
                                             std::to_string(c.out.size()) + " bytes");
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        return c.finish(End::closed, std::string("recv: ") + std::strerror(errno));
    }
}

void on_writable(Client& c) {
    while (c.sent < c.may_send()) {
        ssize_t n =
            ::send(c.socket->fd(), c.out.data() + c.sent, c.may_send() - c.sent, MSG_NOSIGNAL);
        if (n > 0) {
            c.sent += static_cast<size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        return c.finish(End::closed, std::string("send: ") + std::strerror(errno));
    }
}

// Drives every client at once with poll() until each has an end; whoever is
// still running at the deadline is hanging.
void drive(std::vector<Client>& clients, milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    for (;;) {
        std::vector<pollfd> fds;
        std::vector<Client*> who;
        for (Client& c : clients) {
            if (c.end != End::running) continue;
            short ev = POLLIN;
            if (c.sent < c.may_send()) ev |= POLLOUT;
            fds.push_back({c.socket->fd(), ev, 0});
            who.push_back(&c);
        }
        if (fds.empty()) return;
        auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) {
            for (Client* c : who)
                c->finish(End::hung, "sent " + std::to_string(c->sent) + " of " +
                                         std::to_string(c->out.size()) + ", got " +
                                         std::to_string(c->in.size()) + " back within " +
                                         std::to_string(timeout.count()) + " ms");
            return;
        }
        int n = ::poll(fds.data(), fds.size(), static_cast<int>(left));
        if (n < 0 && errno != EINTR) throw std::runtime_error("poll failed");
        for (size_t i = 0; n > 0 && i < fds.size(); ++i) {
            Client& c = *who[i];
            if (fds[i].revents & (POLLIN | POLLERR | POLLHUP)) on_readable(c);
            if (c.end == End::running && (fds[i].revents & POLLOUT)) on_writable(c);
        }
    }
}

struct Tally {
    int clients = 0, served = 0, closed = 0, hung = 0, corrupt = 0;
    std::vector<std::string> problems; // what the hung and corrupt clients saw
    void add(const std::vector<Client>& clients_of_wave, const std::string& wave) {
        for (const Client& c : clients_of_wave) {
            ++clients;
            switch (c.end) {
            case End::served:
                ++served;
                break;
            case End::closed:
                ++closed;
                break;
            case End::hung:
                ++hung;
                break;
            case End::corrupt:
                ++corrupt;
                break;
            case End::running:
                break;
            }
            if ((c.end == End::hung || c.end == End::corrupt) && problems.size() < 5)
                problems.push_back(wave + ": " + (c.end == End::hung ? "hung, " : "corrupt, ") +
                                   c.note);
        }
    }
};

// One wave: `n` clients at once. With one client the server sees one
// connection per edge, which is what catches a listener that stops
// accepting; with eight, one of them sends 256 KiB so the server's writes
// block and its buffered-output path runs under the fault too.
std::vector<Client> wave(uint16_t port, int n, uint64_t& seed) {
    std::vector<Client> clients;
    for (int i = 0; i < n; ++i) {
        if (n > 1 && i == 0)
            clients.push_back(make_client(port, ++seed, {256 * 1024}));
        else
            clients.push_back(
                make_client(port, ++seed, {300 + 97 * static_cast<size_t>(i), 700, 1500}));
    }
    drive(clients, kWaveTimeout);
    return clients;
}

// ---- running one case -------------------------------------------------------

struct Injection {
    std::string spec; // for strace: "?accept4,?accept:error=ENOBUFS:when=3..30+3"
    std::string when;
    long last = 0; // the last call number that can fail
};

Injection injection_for(const Fault& f, long offset) {
    Injection in;
    long first = offset + f.step;
    in.last = offset + f.last;
    in.when = std::to_string(first) + ".." + std::to_string(in.last) + "+" + std::to_string(f.step);
    in.spec = call_set(f.calls) + ":error=" + f.error + ":when=" + in.when;
    return in;
}

// True once every listed call the server makes has been made `last` times:
// from then on none of them fails.
bool faults_over(const std::map<std::string, long>& counts, const Fault& f, long last) {
    bool any = false;
    for (auto& name : f.calls) {
        auto it = counts.find(name);
        if (it == counts.end() || it->second == 0) continue;
        any = true;
        if (it->second < last) return false;
    }
    return any;
}

long injected_count(const std::string& trace) {
    long n = 0;
    for (auto& line : parse_strace_file(trace).lines)
        if (line.find("(INJECTED)") != std::string::npos) ++n;
    return n;
}

std::string calls_text(const std::map<std::string, long>& counts, const Fault& f) {
    std::string text;
    for (auto& name : f.calls)
        if (auto it = counts.find(name); it != counts.end() && it->second > 0)
            text += (text.empty() ? "" : ",") + name + ":" + std::to_string(it->second);
    return text.empty() ? "none" : text;
}

// What every case ends with: the server stopped, the faults counted.
struct Ending {
    bool alive = false; // running all along, fresh clients included
    int exit_code = -1; // after SIGTERM
    long injected = 0;  // calls strace made fail
    std::string figure; // "fault=... when=... calls=... injected=..."
    std::string tail;   // " faults_over=... alive=... exit=..."
};

Ending stop_and_count(ServerProcess& proc, bool alive_during, const Fault& f, const Injection& inj,
                      const std::string& trace, bool over) {
    Ending e;
    e.alive = alive_during && proc.running();
    e.exit_code = proc.stop();
    e.injected = injected_count(trace);
    e.figure = "fault=" + f.key + ":" + f.error + " when=" + inj.when +
               " calls=" + calls_text(call_counts(trace), f) +
               " injected=" + std::to_string(e.injected);
    e.tail = std::string(" faults_over=") + (over ? "yes" : "no") +
             " alive=" + (e.alive ? "yes" : "no") + " exit=" + std::to_string(e.exit_code);
    return e;
}

void check_ending(const Ending& e) {
    CHECK(e.injected > 0); // the faults reached the server
    CHECK(e.alive);
    CHECK(e.exit_code == 0);
}

void run_tcp(const ServerInfo& server, const Fault& f, const Injection& inj,
             const std::string& trace) {
    auto proc = ServerProcess::start(server, traced_options(trace, f.calls, inj.spec));
    INFO(server.name << " under strace -e inject=" << inj.spec);
    const uint16_t port = proc.port();
    uint64_t seed = 0;
    Tally during;

    // While the faults last: one-client waves, then eight-client waves,
    // until the calls have gone past the last faulty one (or a client hung,
    // which already fails the case; the rest would only add more timeouts).
    bool over = false;
    for (int w = 0; w < 16; ++w) {
        int n = w < 4 ? 1 : 8;
        auto clients = wave(port, n, seed);
        during.add(clients, "wave " + std::to_string(w + 1) + " (" + std::to_string(n) +
                                (n == 1 ? " client)" : " clients)"));
        over = faults_over(call_counts(trace), f, inj.last);
        if (during.hung > 0 || (w >= 6 && over)) break;
    }
    bool alive_during = proc.running();

    // After the faults: fresh clients, one at a time, each served in full.
    Tally after;
    for (int i = 0; i < 2 && proc.running(); ++i) {
        auto clients = wave(port, 1, seed);
        after.add(clients, "fresh client " + std::to_string(i + 1));
    }
    Ending end = stop_and_count(proc, alive_during, f, inj, trace, over);
    hostile::figure(server.name,
                    end.figure + " clients=" + std::to_string(during.clients) + " served=" +
                        std::to_string(during.served) + " closed=" + std::to_string(during.closed) +
                        " hung=" + std::to_string(during.hung) +
                        " corrupt=" + std::to_string(during.corrupt) +
                        " fresh_served=" + std::to_string(after.served) + "/2" + end.tail);

    INFO("server stderr:\n" << proc.stderr_text());
    INFO("clients that failed the oracle:\n" << lines(during.problems) << lines(after.problems));
    check_ending(end);
    CHECK(during.hung == 0);
    CHECK(during.corrupt == 0);
    // EINTR means "call again": dropping a client for it is a bug.
    if (f.retry) CHECK(during.closed == 0);
    CHECK(after.served == 2);
}

// ---- UDP -------------------------------------------------------------------

struct UdpPeer {
    UdpClient socket;
    std::map<std::string, std::string> sent; // tag -> datagram
    std::map<std::string, int> echoed;       // tag -> copies received
    explicit UdpPeer(uint16_t port) : socket(port) {}
};

struct UdpTally {
    long sent = 0, echoed = 0, duplicates = 0, corrupt = 0;
    std::vector<std::string> problems;
};

// Takes one echo: an exact copy of something this peer sent, or corrupt.
void take(UdpPeer& p, const std::string& got, UdpTally& t) {
    auto tag = got.substr(0, got.find(';') + 1);
    auto it = p.sent.find(tag);
    if (tag.empty() || it == p.sent.end() || it->second != got) {
        ++t.corrupt;
        if (t.problems.size() < 5)
            t.problems.push_back("an echo that is no datagram this client sent (" +
                                 std::to_string(got.size()) + " bytes, starting '" +
                                 got.substr(0, 24) + "')");
        return;
    }
    if (p.echoed[tag]++ == 0)
        ++t.echoed;
    else
        ++t.duplicates;
}

// Eight datagrams back to back, then their echoes until all are back or
// none comes for 400 ms.
void burst(UdpPeer& p, int peer, long& seq, UdpTally& t) {
    long before = t.echoed;
    for (int i = 0; i < 8; ++i) {
        std::string tag = "p" + std::to_string(peer) + "d" + std::to_string(++seq) + ";";
        std::string d = tag + pattern_bytes(static_cast<uint64_t>(seq), 40 + 131 * i);
        p.sent[tag] = d;
        p.socket.send(d);
        ++t.sent;
    }
    while (t.echoed - before < 8) {
        auto got = p.socket.recv(milliseconds(400));
        if (!got) break;
        take(p, *got, t);
    }
}

void run_udp(const ServerInfo& server, const Fault& f, const Injection& inj,
             const std::string& trace) {
    auto proc = ServerProcess::start(server, traced_options(trace, f.calls, inj.spec));
    INFO(server.name << " under strace -e inject=" << inj.spec);
    std::vector<UdpPeer> peers;
    for (int i = 0; i < 4; ++i)
        peers.emplace_back(proc.port());
    UdpTally t;
    long seq = 0;
    bool over = false;
    for (int b = 0; b < 40; ++b) {
        burst(peers[static_cast<size_t>(b) % peers.size()], b % 4, seq, t);
        over = faults_over(call_counts(trace), f, inj.last);
        if (b >= 11 && over) break;
    }
    // Late echoes still count (an echo may wait for the next datagram's
    // wakeup), as long as each is an exact copy.
    for (auto& p : peers)
        while (auto got = p.socket.recv(milliseconds(300)))
            take(p, *got, t);
    bool alive_during = proc.running();

    // After the faults: a fresh datagram from a fresh client comes back. A
    // retry keeps one unlucky drop from failing; three in a row is a server
    // that stopped echoing.
    bool fresh = false;
    if (proc.running()) {
        UdpClient c(proc.port());
        for (int attempt = 0; attempt < 3 && !fresh; ++attempt) {
            std::string msg = "fresh datagram #" + std::to_string(attempt);
            c.send(msg);
            while (auto got = c.recv(milliseconds(1000)))
                if (*got == msg) {
                    fresh = true;
                    break;
                }
        }
    }
    Ending end = stop_and_count(proc, alive_during, f, inj, trace, over);
    hostile::figure(server.name, end.figure + " datagrams=" + std::to_string(t.sent) +
                                     " echoed=" + std::to_string(t.echoed) +
                                     " lost=" + std::to_string(t.sent - t.echoed) +
                                     " duplicates=" + std::to_string(t.duplicates) +
                                     " corrupt=" + std::to_string(t.corrupt) +
                                     " fresh_echoed=" + (fresh ? "yes" : "no") + end.tail);

    INFO("server stderr:\n" << proc.stderr_text());
    INFO("echoes that failed the oracle:\n" << lines(t.problems));
    check_ending(end);
    CHECK(t.corrupt == 0);
    CHECK(fresh);
}

// The body of one case. Returns a skip reason when strace cannot run here.
std::optional<std::string> run_case(const std::string& name, const Fault& f) {
    if (auto st = strace_available(); !st.ok) return "needs strace: " + st.reason;
    // Looked up again at run time: $IOLADDER_SERVER_LIST may name another list.
    ServerInfo server = find_server(name);
    if (Availability a = server_available(server); !a.ok) return a.reason;
    long offset = f.epoll_only ? startup_calls(server, "epoll_ctl") : 0;
    Injection inj = injection_for(f, offset);
    std::string trace = temp_path("faults-" + server.name) + ".txt";
    if (server.proto == "tcp")
        run_tcp(server, f, inj, trace);
    else
        run_udp(server, f, inj, trace);
    std::remove(trace.c_str());
    return std::nullopt;
}

void register_suite() {
    for (const ServerInfo& s : load_server_list(server_list_path())) {
        for (const Fault& f : kFaults) {
            if (f.tcp_only && s.proto != "tcp") continue;
            if (f.epoll_only && !imports(s, "epoll_ctl")) continue;
            bool uring = s.name.find("uring") != std::string::npos; // as server_available()
            if ((f.readiness_only && uring) || (f.uring_only && !uring)) continue;
            std::string name = s.name;
            const Fault* fault = &f;
            register_test_case(name + " " + f.sentence,
                               "[faults][" + s.chapter + "][" + s.proto + "]", [name, fault] {
                                   if (auto skip = run_case(name, *fault)) IOLADDER_SKIP(*skip);
                               });
        }
    }
}

// Made before main() runs, so Catch2 lists and runs them like any TEST_CASE.
[[maybe_unused]] const bool registered = [] {
    try {
        register_suite();
    } catch (const std::exception& e) {
        std::string why = e.what();
        register_test_case("the fault-injection suite reads the registered server list", "[faults]",
                           [why] { FAIL(why); });
    }
    return true;
}();

} // namespace
