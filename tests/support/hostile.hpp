// hostile.hpp: the hostile-client conformance suite every echo server passes.
//
// A chapter adds a server with one line in its test file:
//
//     IOLADDER_HOSTILE_SUITE("ch02", "echo_tcp_epoll_lt", tcp)
//
// which expands to one TEST_CASE per hostile behaviour, each named as a
// sentence that starts with the server's name and tagged [ch02][hostile][tcp].
// The server is looked up by name in the registered server list.
//
// Each case prints what it measured on stdout as "figure: <server> key=value
// ..." lines, so `ctest -V -L ch01` shows clients, bytes and peak RSS.
#pragma once

#include "catch_compat.hpp"
#include "strace.hpp"

#include <optional>
#include <string>

namespace ioladder::test::hostile {

// What a case returns: a skip reason when the machine lacks what it needs
// (the TEST_CASE then reports SKIPPED), or nothing when it ran. Failures are
// reported through Catch2 assertions inside the case.
using Outcome = std::optional<std::string>;

// TCP
Outcome tcp_many_concurrent_clients(const std::string& server);
Outcome tcp_pipelined_megabyte(const std::string& server);
Outcome tcp_abrupt_resets(const std::string& server);
Outcome tcp_half_close(const std::string& server);
Outcome tcp_non_reading_clients_bounded_rss(const std::string& server);
Outcome tcp_fd_count_back_to_baseline(const std::string& server);
// UDP
Outcome udp_burst_beyond_queue(const std::string& server);
Outcome udp_oversized_datagram(const std::string& server);
// Both: the command line every echo server shares (SPEC: "What every echo
// program does"), then shutdown.
Outcome cli_help(const std::string& server);
Outcome cli_bad_arguments(const std::string& server);
Outcome cli_port_taken(const std::string& server);
Outcome sigterm_exits_zero(const std::string& server);
Outcome sigterm_closes_every_fd(const std::string& server); // needs strace

// A skip reason when the machine lacks what the server needs (io_uring).
Outcome unavailable(const std::string& server);

// Prints "figure: <server> <text>" on stdout (flushed, so it survives a crash).
void figure(const std::string& server, const std::string& text);

// Chapter checks that several chapters share (called from their test files,
// not part of IOLADDER_HOSTILE_SUITE, because not every server passes them).

// Opens FD_SETSIZE + 100 connections at once and has every one echoed: a
// server that is not limited by select()'s bitmap. Needs RLIMIT_NOFILE room.
Outcome tcp_serves_beyond_fd_setsize(const std::string& server);

// Data and the FIN arrive in one wakeup, five times: the server is stopped
// (SIGSTOP) while a client sends its last bytes and its FIN, so that one
// report says both. The client must get every byte back, then EOF. A server
// that stops at the short read never reads the 0 behind it, and no new
// report comes (chapters 03 and 04).
void check_data_and_fin_in_one_wakeup(const std::string& server);

// The same with a TCP urgent mark in the middle: recv() stops short at it
// (tcp(7)) with ordinary data behind it. The urgent byte itself is not
// inline (no SO_OOBINLINE), so the echo is the ordinary bytes around it.
void check_urgent_mark_in_one_wakeup(const std::string& server);

// Sends without reading, on `client`, until the kernel has taken nothing for
// `quiet` (every buffer between the client and the server is full, and the
// server has stopped reading it). The bytes are `chunk` over and over, each
// time rotated by what was sent, so they start with chunk's first bytes.
// Returns everything sent. Fails if more than 256 MiB goes in (a server that
// never pushes back).
std::string flood_until_stall(TcpClient& client, std::string chunk, milliseconds quiet);

// The syscall fingerprint: the server's echo measured under strace
// (measure_echo_cost, 200 round trips), printed as a figure; then a clean
// exit, a wait among `waits_in` at least once per echoed message, none of
// `never` anywhere in the trace, and 2..max_per_message calls per message (a
// sanity bound, not a speed figure). `out` keeps the cost and the parsed
// trace for the chapter's own checks; the caller removes the trace file
// (out.cost.trace_path) when it is done. Returns a skip reason without strace.
struct TracedEcho {
    EchoCost cost;
    Trace trace;
    // Calls of `name` per echoed message in the measured window, 0 if none.
    double per(const std::string& name) const;
    // Calls per echoed message without the memory calls (mmap, brk, ...) an
    // allocator makes now and then: what the event loop itself costs. The
    // sanitizers' allocators add an mmap every hundred messages or so.
    double echo_calls_per_message() const;
};
// io_uring servers pass min_per_message 1.0: one io_uring_enter may both
// submit an echo and collect the next message.
Outcome check_fingerprint(const std::string& server, std::initializer_list<const char*> waits_in,
                          std::initializer_list<const char*> never, double max_per_message,
                          TracedEcho& out, double min_per_message = 2.0);

} // namespace ioladder::test::hostile

// One TEST_CASE; the skip must happen at the TEST_CASE's top level (it
// returns under Catch2 2), hence the Outcome rather than skipping inside.
#define IOLADDER_HOSTILE_CASE(label, name, proto, sentence, function)                              \
    TEST_CASE(name " " sentence, "[" label "][hostile][" #proto "]") {                             \
        if (auto skip = ::ioladder::test::hostile::unavailable(name)) IOLADDER_SKIP(*skip);        \
        if (auto skip = ::ioladder::test::hostile::function(name)) IOLADDER_SKIP(*skip);           \
    }

#define IOLADDER_HOSTILE_SUITE(label, name, proto)                                                 \
    IOLADDER_HOSTILE_SUITE_##proto(label, name) IOLADDER_HOSTILE_SUITE_BOTH(label, name, proto)

#define IOLADDER_HOSTILE_SUITE_tcp(label, name)                                                    \
    IOLADDER_HOSTILE_CASE(label, name, tcp, "echoes 200 concurrent clients their own bytes",       \
                          tcp_many_concurrent_clients)                                             \
    IOLADDER_HOSTILE_CASE(label, name, tcp,                                                        \
                          "returns 1 MiB sent pipelined before any read in order",                 \
                          tcp_pipelined_megabyte)                                                  \
    IOLADDER_HOSTILE_CASE(label, name, tcp,                                                        \
                          "keeps serving after clients reset mid-stream with output pending",      \
                          tcp_abrupt_resets)                                                       \
    IOLADDER_HOSTILE_CASE(label, name, tcp,                                                        \
                          "delivers the pending echo and then EOF on half-close", tcp_half_close)  \
    IOLADDER_HOSTILE_CASE(label, name, tcp,                                                        \
                          "keeps its memory bounded under 1000 clients that never read",           \
                          tcp_non_reading_clients_bounded_rss)                                     \
    IOLADDER_HOSTILE_CASE(label, name, tcp,                                                        \
                          "returns to its baseline fd count after 2000 connect-send-close cycles", \
                          tcp_fd_count_back_to_baseline)                                           \
    IOLADDER_HOSTILE_CASE(label, name, tcp, "exits 0 on SIGTERM with clients connected",           \
                          sigterm_exits_zero)

#define IOLADDER_HOSTILE_SUITE_udp(label, name)                                                    \
    IOLADDER_HOSTILE_CASE(label, name, udp,                                                        \
                          "survives a burst beyond its queue and echoes only exact copies",        \
                          udp_burst_beyond_queue)                                                  \
    IOLADDER_HOSTILE_CASE(label, name, udp,                                                        \
                          "never echoes a datagram larger than its buffer and logs it",            \
                          udp_oversized_datagram)                                                  \
    IOLADDER_HOSTILE_CASE(label, name, udp, "exits 0 on SIGTERM", sigterm_exits_zero)

// The command line and the clean exit, the same for every server.
#define IOLADDER_HOSTILE_SUITE_BOTH(label, name, proto)                                            \
    IOLADDER_HOSTILE_CASE(label, name, proto, "prints its usage on stdout and exits 0 for --help", \
                          cli_help)                                                                \
    IOLADDER_HOSTILE_CASE(label, name, proto,                                                      \
                          "rejects a bad argument with its usage on stderr and exit 2",            \
                          cli_bad_arguments)                                                       \
    IOLADDER_HOSTILE_CASE(label, name, proto,                                                      \
                          "names the address and the errno text when its port is taken",           \
                          cli_port_taken)                                                          \
    IOLADDER_HOSTILE_CASE(label, name, proto, "closes every fd itself before exiting on SIGTERM",  \
                          sigterm_closes_every_fd)
