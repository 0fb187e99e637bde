// strace.hpp: run a server under `strace -f`, parse the trace, and turn it
// into numbers a test can assert: calls per syscall, descriptors left open at
// exit, system calls per echoed message.
#pragma once

#include "harness.hpp"

#include <map>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace ioladder::test {

// ok when strace is on PATH and `strace -f -o /dev/null true` works (ptrace is
// allowed here); otherwise `reason` says which of the two failed. Setting
// IOLADDER_NO_STRACE=1 makes it report "unavailable", to check the skips.
Availability strace_available();

// One system call from the trace, with an "<unfinished ...>" head and its
// "<... resumed>" tail joined into one text.
struct Call {
    pid_t pid = 0;
    std::string name; // "select", "accept4", ...
    std::string text; // "select(8, [3 5], [], NULL, NULL) = 1 (in [3])"
    bool has_result = false;
    long result = 0;   // the return value when has_result ("= ?" has none)
    std::string error; // "EAGAIN" when the call failed, else ""
};

struct Trace {
    std::vector<std::string> lines;     // every line, as strace wrote it
    std::vector<Call> calls;            // in the order the calls started
    std::map<std::string, long> counts; // syscall name -> calls
    std::vector<std::string> signals;   // "SIGTERM {si_signo=...}" lines
    std::vector<std::string> exits;     // "exited with 0", "killed by SIGKILL"
    bool has_call(std::string_view name) const;
    bool has_text(std::string_view text) const;
};

// Parses a file written by `strace -f -o FILE`. Handles the "PID " and
// "[pid PID] " prefixes, "<unfinished ...>" / "<... NAME resumed>" pairs
// (counted once, when they start), signal lines ("--- SIG... ---") and exit
// lines ("+++ exited with N +++"). Lines it does not understand are kept in
// `lines` and otherwise ignored. Throws if the file cannot be read.
Trace parse_strace_file(const std::string& path);
Trace parse_strace_text(const std::string& text);

// The StartOptions that run a server under `strace -f -s 64 -o trace_path`.
// Under AddressSanitizer LeakSanitizer is switched off in the server, because
// it refuses to run under ptrace and would turn a clean exit into exit 1.
StartOptions strace_options(const std::string& trace_path);

struct EchoCost {
    int messages = 0;
    double syscalls_per_message = 0;
    std::map<std::string, double> per_call; // syscall name -> calls per message
    std::string trace_path;                 // kept for the caller to show or remove
    int exit_code = -1;                     // of the traced server after SIGTERM
    std::string method;                     // "window", or "difference" (io_uring)
};

// Runs `server` under strace, does `messages` sequential round trips with one
// client (each payload carries a unique, readable tag), stops the server, and
// counts the server's system calls per echoed message (see strace.cpp for the
// window method, and the difference method for io_uring servers, which runs
// the server a second time). Works for tcp and udp; needs more than 20
// messages. Throws if an echo fails or the tags cannot be found in the trace.
EchoCost measure_echo_cost(const ServerInfo& server, int messages = 200);

// Descriptors above 2 that the trace shows being created (socket, accept,
// pipe, open, dup, epoll_create, eventfd, timerfd, ...) and never closed
// before the process exited: what a server "leaves to exit()" to close.
std::vector<int> fds_open_at_exit(const Trace& trace);

} // namespace ioladder::test
