// ch03_wakers_test.cpp: chapter 03's wakers, threads and the registration
// race, graded (the race's stress harness is registration_race_stress.cpp).
//
// Every waker program is built twice, once per waker (self-pipe and
// eventfd), and each behaviour is checked for both. The wakers are
// registered edge-triggered and never read, as current mio does it, so the
// traces must show a write per wake and no read, while a wake nobody waited
// for is still reported once, wakes before the loop looks still coalesce
// into one wakeup, a full waker still wakes the loop, and wakes racing with
// the loop are never lost. mio_empty stops on SIGTERM through its waker with
// no descriptor left open; mio_mixed counts timer wakeups and still echoes
// UDP; oneshot_workers reports a worker's failed call from main; the racy
// poller's failure is shown deterministically and the locked Poller's
// window is closed. Every demo's command line is checked in
// tests/common/common_test.cpp.
//
// The programs are not echo servers, so they are not in the server list; they
// are built next to it, in <build>/chapters/NN-name/.
#include "catch_compat.hpp"
#include "harness.hpp"
#include "hostile.hpp"
#include "strace.hpp"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <poll.h>
#include <spawn.h>
#include <sstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace ioladder::test;
using ioladder::test::hostile::figure;
using std::chrono::milliseconds;
using std::chrono::seconds;

extern char** environ;

namespace {

const std::vector<std::string> kWakers = {"selfpipe", "eventfd"};

// <build>/chapters/03-epoll-edge/<name> (harness.hpp's program_path).
std::string program(const std::string& name) {
    return program_path("03-epoll-edge", name);
}

// The "key=value" words of the first stdout line that starts with `prefix`.
std::map<std::string, std::string> fields(const std::string& out, const std::string& prefix) {
    std::istringstream lines(out);
    std::string line;
    std::map<std::string, std::string> f;
    while (std::getline(lines, line)) {
        if (line.rfind(prefix, 0) != 0) continue;
        std::istringstream words(line.substr(prefix.size()));
        std::string w;
        while (words >> w)
            if (auto eq = w.find('='); eq != std::string::npos)
                f[w.substr(0, eq)] = w.substr(eq + 1);
        break;
    }
    return f;
}

long number(const std::map<std::string, std::string>& f, const std::string& key) {
    auto it = f.find(key);
    INFO("field " << key);
    REQUIRE(it != f.end());
    return std::stol(it->second);
}

// Runs `argv` under `strace -f -s 64 -o trace_path` (through env(1), which
// applies what strace_options asks for: under ASan, no LeakSanitizer, which
// refuses to run under ptrace) and waits for it to exit.
RunResult run_traced(std::vector<std::string> argv, const std::string& trace_path,
                     const std::vector<std::string>& strace_extra = {}) {
    auto opts = strace_options(trace_path);
    std::vector<std::string> full{"env"};
    full.insert(full.end(), opts.env.begin(), opts.env.end());
    full.insert(full.end(), opts.wrapper.begin(), opts.wrapper.end());
    full.insert(full.end(), strace_extra.begin(), strace_extra.end()); // before the program
    full.insert(full.end(), argv.begin(), argv.end());
    return run_program(full, seconds(60));
}

// The waker's calls in a trace: its descriptors come from the first pipe2 or
// eventfd2 (earlier calls on the same numbers, such as the loader's reads of
// fd 3, are not the waker's), then every read of the read end, every
// successful write to the write end, and every epoll wait that reported
// something.
struct WakerCalls {
    int read_fd = -1, write_fd = -1;
    long reads = 0, writes = 0, waits_reporting = 0;
};

WakerCalls waker_calls(const Trace& t) {
    WakerCalls w;
    for (const Call& c : t.calls) {
        if (w.read_fd < 0) {
            if (c.name == "pipe2" && c.has_result && c.result == 0)
                std::sscanf(c.text.c_str(), "pipe2([%d, %d]", &w.read_fd, &w.write_fd);
            else if (c.name == "eventfd2" && c.has_result && c.result >= 0)
                w.read_fd = w.write_fd = static_cast<int>(c.result);
            continue;
        }
        if (c.name == "read" && c.text.rfind("read(" + std::to_string(w.read_fd) + ",", 0) == 0)
            ++w.reads;
        if (c.name == "write" && c.has_result && c.result > 0 &&
            c.text.rfind("write(" + std::to_string(w.write_fd) + ",", 0) == 0)
            ++w.writes;
        if ((c.name == "epoll_wait" || c.name == "epoll_pwait") && c.has_result && c.result > 0)
            ++w.waits_reporting;
    }
    return w;
}

// One phase of mio_pipe_<waker> run under strace, with `--<count_option> N`:
// the phase's "key=value" line, and the waker's calls in the trace.
struct TracedPhase {
    std::map<std::string, std::string> line;
    WakerCalls calls;
};

TracedPhase trace_phase(const std::string& name, const std::string& phase,
                        const std::string& count_option, long count) {
    const std::string trace_path = temp_path("ch03-" + name + "-" + phase + ".trace");
    RunResult r = run_traced({program(name), "--phase", phase, count_option, std::to_string(count)},
                             trace_path);
    INFO(name << " --phase " << phase << " stdout:\n" << r.out << "stderr:\n" << r.err);
    REQUIRE(r.exit_code == 0);
    TracedPhase t{fields(r.out, phase + ":"), waker_calls(parse_strace_file(trace_path))};
    REQUIRE(t.calls.read_fd >= 0);
    std::remove(trace_path.c_str());
    return t;
}

// A program running in the background with its stdout on a pipe we read
// line by line (run_program only gives it back at the end, ServerProcess
// wants a "listening on" line). The destructor SIGKILLs and reaps it.
class Child {
  public:
    explicit Child(const std::vector<std::string>& argv) {
        int out[2];
        REQUIRE(pipe2(out, O_CLOEXEC) == 0);
        err_ = std::tmpfile();
        REQUIRE(err_ != nullptr);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, out[1], 1);
        posix_spawn_file_actions_adddup2(&actions, fileno(err_), 2);
        std::vector<char*> args;
        for (auto& a : argv)
            args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        int rc = posix_spawnp(&pid_, args[0], &actions, nullptr, args.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        ::close(out[1]);
        out_ = out[0];
        INFO("posix_spawnp " << argv[0] << ": " << std::strerror(rc));
        REQUIRE(rc == 0);
    }
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;
    ~Child() {
        if (!reaped_) {
            ::kill(pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
        }
        ::close(out_);
        std::fclose(err_);
    }

    // The next stdout line (without '\n'), or "" on EOF or timeout.
    std::string read_line(milliseconds timeout) {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            if (auto nl = buffer_.find('\n'); nl != std::string::npos) {
                std::string line = buffer_.substr(0, nl);
                buffer_.erase(0, nl + 1);
                return line;
            }
            if (!fill(deadline)) return "";
        }
    }
    // Everything else on stdout up to EOF (or the timeout).
    std::string read_rest(milliseconds timeout) {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        while (fill(deadline)) {
        }
        return std::exchange(buffer_, "");
    }
    // The exit code, 128+signal if killed, -1 if still running after `timeout`.
    int wait(milliseconds timeout) {
        int status = 0;
        bool done = wait_until([&] { return waitpid(pid_, &status, WNOHANG) == pid_; }, timeout);
        if (!done) return -1;
        reaped_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::string stderr_text() {
        std::string s;
        std::rewind(err_);
        char buf[4096];
        while (std::size_t n = std::fread(buf, 1, sizeof buf, err_))
            s.append(buf, n);
        return s;
    }

  private:
    bool fill(std::chrono::steady_clock::time_point deadline) {
        auto left =
            std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
        pollfd p{out_, POLLIN, 0};
        if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
        char buf[4096];
        ssize_t n = ::read(out_, buf, sizeof buf);
        if (n <= 0) return false;
        buffer_.append(buf, static_cast<std::size_t>(n));
        return true;
    }
    pid_t pid_ = -1;
    int out_ = -1;
    FILE* err_ = nullptr;
    std::string buffer_;
    bool reaped_ = false;
};

// The pid a ready line like "mio_empty_eventfd: pid 1234 waiting ..." names.
pid_t pid_in(const std::string& line) {
    auto at = line.find(": pid ");
    INFO("ready line: '" << line << "'");
    REQUIRE(at != std::string::npos);
    return static_cast<pid_t>(std::stol(line.substr(at + 6)));
}

} // namespace

// ---- mio_pipe: late wakes, one by one, coalescing, a full waker, races -------

TEST_CASE("an edge-triggered waker reports a wake nobody waited for once, and needs no read "
          "(both wakers)",
          "[ch03][wakers]") {
    for (auto& w : kWakers) {
        RunResult r = run_program({program("mio_pipe_" + w), "--phase", "late"});
        INFO("mio_pipe_" << w << " stdout:\n" << r.out << "stderr:\n" << r.err);
        CHECK(r.exit_code == 0);
        auto late = fields(r.out, "late:");
        CHECK(number(late, "first_wait") == 1);
        CHECK(number(late, "second_wait") == 0); // the edge is used up; nothing to reset
    }
}

TEST_CASE("a loop woken one wake at a time sees every wake, and its trace has a write per wake "
          "and no read of the waker (both wakers)",
          "[ch03][wakers][strace]") {
    if (auto st = strace_available(); !st.ok) IOLADDER_SKIP("needs strace: " + st.reason);
    const long rounds = 200;
    for (auto& w : kWakers) {
        const std::string name = "mio_pipe_" + w;
        TracedPhase t = trace_phase(name, "one-by-one", "--rounds", rounds);
        CHECK(number(t.line, "wakeups") == rounds);
        CHECK(number(t.line, "drains") == 0);
        CHECK(t.calls.writes == rounds);          // one write per wake...
        CHECK(t.calls.waits_reporting == rounds); // ...one report per wake...
        CHECK(t.calls.reads == 0);                // ...and the read is gone
        figure(name, "one-by-one wakes=" + std::to_string(rounds) +
                         " waker_writes=" + std::to_string(t.calls.writes) +
                         " waits_reporting=" + std::to_string(t.calls.waits_reporting) +
                         " waker_reads=" + std::to_string(t.calls.reads));
    }
}

TEST_CASE("wakes before the loop looks are one wakeup with no read, and the pipe drains once per "
          "65536 unread wakes, the eventfd never (both wakers)",
          "[ch03][wakers][strace]") {
    if (auto st = strace_available(); !st.ok) IOLADDER_SKIP("needs strace: " + st.reason);
    const long wakes = 1000;
    for (auto& w : kWakers) {
        const std::string name = "mio_pipe_" + w;
        // Under strace: few enough wakes that the pipe never fills.
        TracedPhase t = trace_phase(name, "coalesced", "--wakes", wakes);
        CHECK(number(t.line, "wakeups") == 1);
        CHECK(t.calls.writes == wakes);
        CHECK(t.calls.waits_reporting == 1);
        CHECK(t.calls.reads == 0);

        // Without strace: 100000 wakes, past the pipe's capacity. A wake()
        // that blocked on a full pipe would hang here (exit_code -1).
        const long many = 100000;
        RunResult r = run_program({program(name), "--phase", "coalesced"}, seconds(60));
        INFO(name << " stdout:\n" << r.out << "stderr:\n" << r.err);
        REQUIRE(r.exit_code == 0);
        auto c = fields(r.out, "coalesced:");
        CHECK(number(c, "wakes") == many);
        CHECK(number(c, "wakeups") == 1);
        long expected_drains = 0;
        if (w == "selfpipe") {
            int probe[2]; // a new pipe has the default capacity, like the waker's
            REQUIRE(pipe2(probe, O_CLOEXEC) == 0);
            const long capacity = fcntl(probe[0], F_GETPIPE_SZ);
            ::close(probe[0]);
            ::close(probe[1]);
            expected_drains = (many - 1) / capacity; // the 65537th unread wake finds it full
        }
        CHECK(number(c, "drains") == expected_drains);
        figure(name, "wakes=" + std::to_string(many) + " wakeups=" + c["wakeups"] +
                         " drains=" + c["drains"] + " wake_ms=" + c["wake_ms"]);
    }
}

TEST_CASE("a wake on a full waker drains it once and still wakes the loop (both wakers)",
          "[ch03][wakers]") {
    for (auto& w : kWakers) {
        RunResult r = run_program({program("mio_pipe_" + w), "--phase", "full"});
        INFO("mio_pipe_" << w << " stdout:\n" << r.out << "stderr:\n" << r.err);
        CHECK(r.exit_code == 0);
        auto f = fields(r.out, "full:");
        CHECK(number(f, "first_wait") == 1);
        CHECK(number(f, "drains") == 1);
        CHECK(number(f, "woken") == 1); // dropping the EAGAIN'd write would have lost it
    }
}

TEST_CASE("wakes racing with the loop are never lost (both wakers)", "[ch03][wakers]") {
    for (auto& w : kWakers) {
        const std::string name = "mio_pipe_" + w;
        RunResult r = run_program({program(name), "--phase", "concurrent"}, seconds(60));
        INFO(name << " stdout:\n" << r.out << "stderr:\n" << r.err);
        CHECK(r.exit_code == 0);
        auto c = fields(r.out, "concurrent:");
        CHECK(number(c, "lost") == 0);
        CHECK(number(c, "wakeups") <= number(c, "wakes"));
        figure(name, "concurrent_wakes=" + c["wakes"] + " loop_wakeups=" + c["wakeups"]);
    }
}

TEST_CASE("mio_pipe runs every phase and exits 0 (both wakers)", "[ch03][wakers]") {
    for (auto& w : kWakers) {
        RunResult r = run_program({program("mio_pipe_" + w)}, seconds(60));
        INFO("mio_pipe_" << w << " stdout:\n" << r.out << "stderr:\n" << r.err);
        CHECK(r.exit_code == 0);
        for (const char* phase : {"late:", "one-by-one:", "coalesced:", "full:", "concurrent:"})
            CHECK(r.out.find(std::string("\n") + phase) != std::string::npos);
    }
}

// ---- mio_empty: only the waker, stopped by a signal through it --------------

TEST_CASE("mio_empty stops on SIGTERM through its waker and exits 0 (both wakers)",
          "[ch03][wakers]") {
    for (auto& w : kWakers) {
        const std::string name = "mio_empty_" + w;
        INFO(name);
        Child child({program(name)});
        std::string ready = child.read_line(seconds(10));
        REQUIRE(ready.find("waiting in epoll_wait") != std::string::npos);
        // It stays asleep: no output, no exit, until the signal.
        CHECK(child.wait(milliseconds(200)) == -1);
        REQUIRE(::kill(pid_in(ready), SIGTERM) == 0);
        CHECK(child.wait(seconds(10)) == 0);
        std::string rest = child.read_rest(seconds(2));
        INFO("stdout: " << rest << "\nstderr: " << child.stderr_text());
        CHECK(rest.find("stopped by a signal after 1 wakeup") != std::string::npos);
    }
}

TEST_CASE("mio_empty's trace shows the waker created and registered edge-triggered, the wake in "
          "the signal handler, no read of it, and no descriptor left open (both wakers)",
          "[ch03][wakers][strace]") {
    if (auto st = strace_available(); !st.ok) IOLADDER_SKIP("needs strace: " + st.reason);
    for (auto& w : kWakers) {
        const std::string name = "mio_empty_" + w;
        INFO(name);
        const std::string trace_path = temp_path("ch03-" + name + ".trace");
        auto opts = strace_options(trace_path);
        std::vector<std::string> argv{"env"};
        argv.insert(argv.end(), opts.env.begin(), opts.env.end());
        argv.insert(argv.end(), opts.wrapper.begin(), opts.wrapper.end());
        argv.push_back(program(name));
        Child child(argv);
        std::string ready = child.read_line(seconds(15));
        REQUIRE(ready.find("waiting in epoll_wait") != std::string::npos);
        REQUIRE(::kill(pid_in(ready), SIGTERM) == 0);
        REQUIRE(child.wait(seconds(15)) == 0); // strace exits with the traced program's code
        Trace t = parse_strace_file(trace_path);
        INFO("trace kept at " << trace_path);

        WakerCalls calls = waker_calls(t);
        REQUIRE(calls.read_fd >= 0);
        for (const Call& c : t.calls) {
            if (c.name == "pipe2" || c.name == "eventfd2")
                CHECK(c.text.find(c.name == "pipe2" ? "O_NONBLOCK" : "EFD_NONBLOCK") !=
                      std::string::npos);
        }
        CHECK(t.has_call("epoll_create1"));
        const std::string add = "EPOLL_CTL_ADD, " + std::to_string(calls.read_fd) + ",";
        bool registered = false;
        long adds = 0;
        for (const Call& c : t.calls) {
            if (c.name != "epoll_ctl") continue;
            ++adds;
            registered |= c.text.find(add) != std::string::npos &&
                          c.text.find("EPOLLET") != std::string::npos && c.result == 0;
        }
        CHECK(registered);
        CHECK(adds == 1); // nothing else is registered
        // The handler's wake: a write to the waker after the SIGTERM line.
        bool woke = false;
        bool after_signal = false;
        for (const auto& line : t.lines) {
            if (line.find("--- SIGTERM") != std::string::npos) after_signal = true;
            if (after_signal &&
                line.find("write(" + std::to_string(calls.write_fd) + ",") != std::string::npos)
                woke = true;
        }
        CHECK(woke);
        CHECK(calls.writes == 1);
        CHECK(calls.reads == 0); // epoll_wait used up the edge; nothing to drain
        auto open_fds = fds_open_at_exit(t);
        std::ostringstream list;
        for (int fd : open_fds)
            list << " " << fd;
        INFO("descriptors left to exit():" << list.str());
        CHECK(open_fds.empty());
        figure(name, "epoll_ctl_adds=" + std::to_string(adds) +
                         " waker_writes=" + std::to_string(calls.writes) +
                         " waker_reads=" + std::to_string(calls.reads) +
                         " syscalls=" + std::to_string(t.calls.size()) +
                         " fds_left_open=" + std::to_string(open_fds.size()));
        std::remove(trace_path.c_str());
    }
}

// ---- mio_mixed: a socket and a timer thread on one epoll --------------------

namespace {

uint16_t port_in(const std::string& listening) {
    auto paren = listening.rfind(" (udp)");
    auto colon = listening.rfind(':', paren);
    INFO("listening line: '" << listening << "'");
    REQUIRE(listening.rfind("listening on ", 0) == 0);
    REQUIRE(paren != std::string::npos);
    REQUIRE(colon != std::string::npos);
    return static_cast<uint16_t>(std::stoul(listening.substr(colon + 1, paren - colon - 1)));
}

} // namespace

TEST_CASE("mio_mixed counts its timer wakeups, echoes UDP meanwhile, and exits after --ticks "
          "(both wakers)",
          "[ch03][wakers]") {
    const int ticks = 40, datagrams = 5;
    for (auto& w : kWakers) {
        const std::string name = "mio_mixed_" + w;
        INFO(name);
        Child child({program(name), "--port", "0", "--interval-ms", "50", "--ticks",
                     std::to_string(ticks)});
        uint16_t port = port_in(child.read_line(seconds(10)));
        UdpClient client(port);
        for (int i = 0; i < datagrams; ++i) {
            std::string msg = "tick-tock " + std::to_string(i);
            client.send(msg);
            auto echo = client.recv(seconds(5));
            REQUIRE(echo.has_value());
            CHECK(*echo == msg);
        }
        // No signal from us: it stops by itself after `ticks` timer wakeups.
        CHECK(child.wait(seconds(30)) == 0);
        std::string rest = child.read_rest(seconds(2));
        INFO("stdout: " << rest << "\nstderr: " << child.stderr_text());
        auto f = fields(rest, name + ":");
        CHECK(number(f, "timer_wakeups") == ticks);
        CHECK(number(f, "datagrams") == datagrams);
        CHECK(number(f, "ticks_sent") >= ticks); // coalesced ticks make it larger, never smaller
        figure(name, "ticks_sent=" + f["ticks_sent"] + " timer_wakeups=" + f["timer_wakeups"] +
                         " datagrams=" + f["datagrams"]);
    }
}

TEST_CASE("mio_mixed stops on SIGTERM through its waker and exits 0 (both wakers)",
          "[ch03][wakers]") {
    for (auto& w : kWakers) {
        const std::string name = "mio_mixed_" + w;
        INFO(name);
        StartOptions options;
        options.args = {"--interval-ms", "20"};
        auto proc = ServerProcess::start(program(name), options);
        std::this_thread::sleep_for(milliseconds(200)); // a few timer wakeups first
        CHECK(proc.running());
        CHECK(proc.stop(seconds(10)) == 0);
    }
}

// ---- oneshot_workers: a worker's failure goes to main ------------------------

TEST_CASE("a worker whose call fails reports it to main, which stops the others and exits 1 "
          "naming the call",
          "[ch03][oneshot][strace]") {
    if (auto st = strace_available(); !st.ok) IOLADDER_SKIP("needs strace: " + st.reason);
    // strace changes what the kernel returns (error=, retval=) without
    // touching the program: the 3rd epoll_wait of a worker fails, or its 3rd
    // recv() returns 0, which the first edition read an uninitialised message after.
    struct Fault {
        std::string inject, expect;
    };
    for (const Fault& f :
         {Fault{"inject=epoll_wait:error=EIO:when=3", "epoll_wait: Input/output error"},
          Fault{"inject=recvfrom:retval=0:when=3", "recv: end of stream"}}) {
        INFO(f.inject);
        const std::string trace_path = temp_path("ch03-oneshot-fault.trace");
        RunResult r = run_traced({program("oneshot_workers"), "--messages", "200"}, trace_path,
                                 {"-e", f.inject});
        INFO("stdout:\n" << r.out << "stderr:\n" << r.err);
        CHECK(r.exit_code == 1); // not a crash, not a hang (-1), not die()'s exit from a thread
        CHECK(r.err.find("oneshot_workers: a worker failed: " + f.expect) != std::string::npos);
        CHECK(r.out.rfind("mode=oneshot", 0) == 0); // main still printed its figures
        std::remove(trace_path.c_str());
    }
}

// ---- registration_race: the window schedule ---------------------------------

TEST_CASE("the racy poller lets a registration land in a new epoll instance or fail after close",
          "[ch03][registration_race]") {
    // The racy poller closes a descriptor another thread is using in
    // epoll_wait, on purpose; ThreadSanitizer rightly reports that.
    if (built_with_tsan()) IOLADDER_SKIP("the racy poller races on purpose; TSan reports it");
    RunResult r = run_program({program("registration_race"), "--poller", "racy"}, seconds(30));
    INFO("stdout:\n" << r.out << "stderr:\n" << r.err);
    CHECK(r.exit_code == 0);
    // Deterministic: the registrar is parked between the check and epoll_ctl
    // while the poller closes, so its epoll_ctl always comes after close():
    // it either succeeds on the new instance that took the number, or fails.
    auto window = fields(r.out, "window racy:");
    const bool landed = number(window, "landed_in_new_epoll") == 1;
    const bool failed = window["register"].rfind("failed", 0) == 0;
    CHECK((landed || failed));
    CHECK_FALSE((window["register"] == "ok" && !landed));
    CHECK(window["waiter"] != "poll_closed"); // close() woke nobody
    figure("registration_race", "racy window: register=" + window["register"] +
                                    " landed_in_new_epoll=" + window["landed_in_new_epoll"] +
                                    " waiter=" + window["waiter"]);
}

TEST_CASE("the locked poller registers before close or refuses, and close wakes the waiter",
          "[ch03][registration_race]") {
    RunResult r = run_program({program("registration_race"), "--poller", "locked"}, seconds(30));
    INFO("stdout:\n" << r.out << "stderr:\n" << r.err);
    CHECK(r.exit_code == 0);
    auto window = fields(r.out, "window locked:");
    CHECK(window["register"] == "ok"); // close() waited for the parked registration
    CHECK(number(window, "landed_in_new_epoll") == 0);
    CHECK(window["waiter"] == "poll_closed"); // woken by close(), not by its 2 s timeout
    CHECK(number(window, "waiter_ms") < 2000);
}
