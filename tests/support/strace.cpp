// strace.cpp: see strace.hpp.
#include "strace.hpp"

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <unistd.h>

namespace ioladder::test {

namespace {

bool on_path(const std::string& program) {
    const char* path = std::getenv("PATH");
    std::istringstream dirs(path ? path : "/usr/bin:/bin");
    std::string dir;
    while (std::getline(dirs, dir, ':'))
        if (!dir.empty() && access((dir + "/" + program).c_str(), X_OK) == 0) return true;
    return false;
}

std::string first_line(const std::string& text) {
    auto end = text.find('\n');
    return text.substr(0, end);
}

// Splits "12345 rest", "[pid 12345] rest" or plain "rest" (no -f) into the pid
// and the rest. strace writes "PID " when -f output goes to a file and
// "[pid PID] " when it goes to a terminal; both appear in the wild.
pid_t split_pid(std::string_view& line) {
    pid_t pid = 0;
    if (line.rfind("[pid ", 0) == 0) {
        size_t i = 5;
        while (i < line.size() && line[i] == ' ')
            ++i;
        while (i < line.size() && std::isdigit(static_cast<unsigned char>(line[i])))
            pid = pid * 10 + (line[i++] - '0');
        auto close = line.find(']', i);
        line.remove_prefix(close == std::string_view::npos ? line.size() : close + 1);
    } else {
        size_t i = 0;
        while (i < line.size() && std::isdigit(static_cast<unsigned char>(line[i])))
            pid = pid * 10 + (line[i++] - '0');
        if (i > 0 && i < line.size() && line[i] == ' ')
            line.remove_prefix(i);
        else
            pid = 0;
    }
    while (!line.empty() && line.front() == ' ')
        line.remove_prefix(1);
    return pid;
}

std::string leading_name(std::string_view s) {
    size_t i = 0;
    while (i < s.size() && (std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '_'))
        ++i;
    return std::string(s.substr(0, i));
}

// Finds the ')' that closes the argument list opened at text[open], skipping
// quoted strings (a payload may contain ") = " or unbalanced brackets) and
// nested brackets. npos if the text ends first.
size_t closing_paren(const std::string& text, size_t open) {
    int depth = 0;
    bool in_string = false;
    for (size_t i = open; i < text.size(); ++i) {
        char c = text[i];
        if (in_string) {
            if (c == '\\')
                ++i; // strace escapes quotes and backslashes in strings
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '(' || c == '[' || c == '{') {
            ++depth;
        } else if (c == ')' || c == ']' || c == '}') {
            if (--depth == 0) return i;
        }
    }
    return std::string::npos;
}

// Fills in the result of a complete call: "name(args) = 5", "= -1 EAGAIN
// (Resource temporarily unavailable)", "= 0x7f..." or "= ?".
void parse_result(Call& call) {
    auto open = call.text.find('(');
    if (open == std::string::npos) return;
    auto close = closing_paren(call.text, open);
    if (close == std::string::npos) return;
    auto eq = call.text.find(" = ", close);
    if (eq == std::string::npos) return;
    std::string rest = call.text.substr(eq + 3);
    if (rest.empty() || rest[0] == '?') return;
    char* end = nullptr;
    long value = std::strtol(rest.c_str(), &end, 0);
    if (end == rest.c_str()) return;
    call.has_result = true;
    call.result = value;
    if (value == -1) {
        std::istringstream words{std::string(end)};
        words >> call.error;
    }
}

// Every integer in "[3, 4]" (pipe2, socketpair results).
std::vector<int> ints_in_brackets(const std::string& text) {
    std::vector<int> out;
    auto open = text.find('[');
    auto close = text.find(']', open);
    if (open == std::string::npos || close == std::string::npos) return out;
    std::istringstream in(text.substr(open + 1, close - open - 1));
    std::string item;
    while (std::getline(in, item, ','))
        out.push_back(std::atoi(item.c_str()));
    return out;
}

// The first argument, for close(fd), dup2(old, NEW)...
std::vector<long> int_args(const std::string& text) {
    std::vector<long> out;
    auto open = text.find('(');
    auto close = closing_paren(text, open);
    if (open == std::string::npos || close == std::string::npos) return out;
    std::istringstream in(text.substr(open + 1, close - open - 1));
    std::string item;
    while (std::getline(in, item, ','))
        out.push_back(std::strtol(item.c_str(), nullptr, 0));
    return out;
}

} // namespace

// ---- availability ----------------------------------------------------------

Availability strace_available() {
    static const Availability cached = [] {
        if (const char* no = std::getenv("IOLADDER_NO_STRACE"); no && *no && *no != '0')
            return Availability{false, "IOLADDER_NO_STRACE is set"};
        if (!on_path("strace"))
            return Availability{false, "strace is not installed (not on PATH); "
                                       "apt-get install strace"};
        RunResult r = run_program({"strace", "-f", "-o", "/dev/null", "true"});
        if (r.exit_code != 0)
            return Availability{false, "strace cannot trace here (ptrace denied?): exit " +
                                           std::to_string(r.exit_code) + ": " + first_line(r.err)};
        return Availability{true, ""};
    }();
    return cached;
}

// ---- parsing ---------------------------------------------------------------

bool Trace::has_call(std::string_view name) const {
    auto it = counts.find(std::string(name));
    return it != counts.end() && it->second > 0;
}

bool Trace::has_text(std::string_view text) const {
    for (auto& l : lines)
        if (l.find(text) != std::string::npos) return true;
    return false;
}

Trace parse_strace_text(const std::string& text) {
    Trace trace;
    // An unfinished call is recorded when it starts (so calls stay in start
    // order and are counted once); its resumed tail is appended later.
    std::map<pid_t, size_t> unfinished;
    const std::string unfinished_mark = " <unfinished ...>";

    std::istringstream in(text);
    std::string raw;
    while (std::getline(in, raw)) {
        trace.lines.push_back(raw);
        std::string_view line = raw;
        pid_t pid = split_pid(line);
        if (line.rfind("--- ", 0) == 0) {
            trace.signals.emplace_back(line.substr(4, line.size() >= 8 ? line.size() - 8 : 0));
            continue;
        }
        if (line.rfind("+++ ", 0) == 0) {
            trace.exits.emplace_back(line.substr(4, line.size() >= 8 ? line.size() - 8 : 0));
            continue;
        }
        if (line.rfind("<... ", 0) == 0) {
            // "<... select resumed>) = 1 (in [3])"
            auto end = line.find(" resumed>");
            auto it = unfinished.find(pid);
            if (end == std::string_view::npos || it == unfinished.end()) continue;
            Call& call = trace.calls[it->second];
            call.text += std::string(line.substr(end + 9));
            parse_result(call);
            unfinished.erase(it);
            continue;
        }
        std::string name = leading_name(line);
        if (name.empty() || line.size() <= name.size() || line[name.size()] != '(') continue;
        Call call;
        call.pid = pid;
        call.name = name;
        bool is_unfinished = line.size() >= unfinished_mark.size() &&
                             line.substr(line.size() - unfinished_mark.size()) == unfinished_mark;
        call.text = std::string(is_unfinished ? line.substr(0, line.size() - unfinished_mark.size())
                                              : line);
        if (is_unfinished)
            unfinished[pid] = trace.calls.size();
        else
            parse_result(call);
        ++trace.counts[name];
        trace.calls.push_back(std::move(call));
    }
    return trace;
}

Trace parse_strace_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot read strace output " + path);
    std::stringstream text;
    text << in.rdbuf();
    return parse_strace_text(text.str());
}

// ---- descriptors left open -------------------------------------------------

std::vector<int> fds_open_at_exit(const Trace& trace) {
    // Calls whose return value is a new descriptor.
    static const std::set<std::string> returns_fd = {
        "socket",           "accept",        "accept4",        "open",
        "openat",           "openat2",       "creat",          "dup",
        "epoll_create",     "epoll_create1", "eventfd",        "eventfd2",
        "timerfd_create",   "signalfd",      "signalfd4",      "inotify_init",
        "inotify_init1",    "memfd_create",  "io_uring_setup", "pidfd_open",
        "pidfd_getfd",      "fanotify_init", "userfaultfd",    "perf_event_open",
        "open_by_handle_at"};
    std::set<int> open;
    for (const Call& c : trace.calls) {
        if (!c.has_result) continue; // "= ?": killed mid-call, nothing known
        const std::string& n = c.name;
        if (n == "close") {
            // A failed close (EINTR, EIO) still releases the descriptor on
            // Linux (close(2), "Dealing with error returns"); only EBADF means
            // there was nothing to close.
            auto args = int_args(c.text);
            if (!args.empty() && c.error != "EBADF") open.erase(static_cast<int>(args[0]));
            continue;
        }
        if (c.result < 0) continue;
        if (returns_fd.count(n)) {
            open.insert(static_cast<int>(c.result));
        } else if ((n == "fcntl" || n == "fcntl64") &&
                   c.text.find("F_DUPFD") != std::string::npos) {
            open.insert(static_cast<int>(c.result));
        } else if (n == "dup2" || n == "dup3") {
            open.insert(static_cast<int>(c.result)); // the target, now a copy
        } else if (n == "pipe" || n == "pipe2" || n == "socketpair") {
            for (int fd : ints_in_brackets(c.text))
                open.insert(fd);
        } else if (n == "close_range" && c.text.find("CLOSE_RANGE_CLOEXEC") == std::string::npos) {
            auto args = int_args(c.text);
            if (args.size() >= 2)
                for (auto it = open.begin(); it != open.end();)
                    it = (*it >= args[0] && *it <= args[1]) ? open.erase(it) : std::next(it);
        }
    }
    std::vector<int> out;
    for (int fd : open)
        if (fd > 2) out.push_back(fd);
    return out;
}

// ---- the cost of one echo --------------------------------------------------

StartOptions strace_options(const std::string& trace_path) {
    StartOptions o;
    // -f: follow threads and children; -s 64: show enough of each buffer to
    // find our message tags; -o: the trace goes to a file, not the server's
    // stderr.
    o.wrapper = {"strace", "-f", "-s", "64", "-o", trace_path};
    if (built_with_asan()) {
        const char* old = std::getenv("ASAN_OPTIONS");
        o.env.push_back(std::string("ASAN_OPTIONS=") + (old && *old ? old : "") +
                        (old && *old ? ":" : "") + "detect_leaks=0");
    }
    o.ready_timeout = std::chrono::seconds(15); // strace (and ASan) slow the start
    return o;
}

namespace {

std::string echo_tag(int i) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "ioladder-echo-%06d;", i);
    return buf;
}

bool is_send_call(const std::string& name) {
    return name == "write" || name == "send" || name == "sendto" || name == "sendmsg" ||
           name == "writev" || name == "sendmmsg";
}

// Index of the first (or last) call that sends `tag` back to the client.
std::optional<size_t> find_echo(const Trace& t, const std::string& tag, bool last) {
    std::optional<size_t> found;
    for (size_t i = 0; i < t.calls.size(); ++i) {
        const Call& c = t.calls[i];
        if (is_send_call(c.name) && c.has_result && c.result > 0 &&
            c.text.find(tag) != std::string::npos) {
            found = i;
            if (!last) break;
        }
    }
    return found;
}

// One traced run: `messages` sequential round trips with one client, each
// payload a unique readable tag, then SIGTERM. Returns the exit code.
int traced_round_trips(const ServerInfo& server, int messages, const std::string& trace_path) {
    auto proc = ServerProcess::start(server, strace_options(trace_path));
    const auto timeout = std::chrono::seconds(5);
    if (server.proto == "tcp") {
        TcpClient client(proc.port());
        for (int i = 0; i < messages; ++i) {
            std::string msg = echo_tag(i);
            client.send_all(msg);
            std::string got = client.recv_exact(msg.size(), timeout);
            if (got != msg)
                throw std::runtime_error(server.name + ": echo " + std::to_string(i) +
                                         " differs: " + describe_mismatch(msg, got));
        }
    } else {
        UdpClient client(proc.port());
        for (int i = 0; i < messages; ++i) {
            std::string msg = echo_tag(i);
            client.send(msg);
            auto got = client.recv(timeout);
            if (!got || *got != msg)
                throw std::runtime_error(server.name + ": no exact echo of datagram " +
                                         std::to_string(i));
        }
    }
    return proc.stop(std::chrono::seconds(10));
}

std::map<std::string, long> counts_between(const Trace& t, size_t from, size_t to) {
    std::map<std::string, long> per_call;
    for (size_t i = from; i < to; ++i)
        ++per_call[t.calls[i].name];
    return per_call;
}

} // namespace

// The window method. The whole trace also holds start-up (execve, the dynamic
// loader, socket/bind/listen) and shutdown (the signal, closes), whose cost
// has nothing to do with echoing. The client sends message i+1 only after
// message i came back, so between the server's send of message 0's echo and
// its send of message N-1's echo the server does exactly N-1 complete cycles
// (wait, read message i, maybe change interest, wait, send echo i) and nothing
// else. Counting the calls after the first echo up to and including the last
// and dividing by N-1 gives the steady-state cost of one echoed message with
// one message in flight. The echoes are found by their tags, which is why
// strace runs with -s 64 and every tag is unique and sits at the buffer's
// start.
//
// A completion-based server (io_uring) passes its data through no system
// call argument, so the trace shows no tags. Then the difference method: a
// second run with kShortRun messages, whose start-up and shutdown are the
// same; (calls of the long run - calls of the short run) / (N - kShortRun).
EchoCost measure_echo_cost(const ServerInfo& server, int messages) {
    constexpr int kShortRun = 20;
    if (messages <= kShortRun)
        throw std::invalid_argument("measure_echo_cost: needs more than 20 messages");
    EchoCost cost;
    cost.messages = messages;
    cost.trace_path = temp_path("strace-" + server.name) + ".txt";
    cost.exit_code = traced_round_trips(server, messages, cost.trace_path);
    Trace t = parse_strace_file(cost.trace_path);
    auto first = find_echo(t, echo_tag(0), false);
    auto last = find_echo(t, echo_tag(messages - 1), true);
    std::map<std::string, long> per_call;
    double cycles;
    if (first && last && *last > *first) {
        per_call = counts_between(t, *first + 1, *last + 1);
        cycles = messages - 1;
        cost.method = "window";
    } else if (t.has_call("io_uring_enter")) {
        std::string short_path = temp_path("strace-short-" + server.name) + ".txt";
        int code = traced_round_trips(server, kShortRun, short_path);
        Trace s = parse_strace_file(short_path);
        std::remove(short_path.c_str());
        if (code != 0)
            throw std::runtime_error(server.name + ": exit " + std::to_string(code) +
                                     " after the short run");
        per_call = counts_between(t, 0, t.calls.size());
        for (auto& [name, n] : counts_between(s, 0, s.calls.size()))
            per_call[name] -= n;
        cycles = messages - kShortRun;
        cost.method = "difference";
    } else {
        throw std::runtime_error(server.name + ": cannot find the first and last echo ('" +
                                 echo_tag(0) + "', '" + echo_tag(messages - 1) + "') in " +
                                 cost.trace_path);
    }
    long total = 0;
    for (auto& [name, n] : per_call) {
        if (n == 0) continue;
        total += n;
        cost.per_call[name] = static_cast<double>(n) / cycles;
    }
    cost.syscalls_per_message = static_cast<double>(total) / cycles;
    return cost;
}

} // namespace ioladder::test
