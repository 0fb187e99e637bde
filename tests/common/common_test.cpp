// common_test.cpp: chapters/common/, graded.
//
// OutBuffer as a unit (bounded, order kept across the slide, no storage until
// the first read), the option parser's rules through a real demo-free table,
// and, for every registered TCP server, EMFILE: with a descriptor limit far
// below what the clients need, every client is either served or closed
// (never left hanging in the backlog), the server logs the refusals at most
// once a second with a count, does not spin, and serves a fresh client once
// descriptors are free again.
#include "catch_compat.hpp"
#include "harness.hpp"
#include "hostile.hpp"
#include "out_buffer.hpp"

#include <algorithm>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

using namespace ioladder::test;
using std::chrono::milliseconds;
using std::chrono::seconds;

// ---- OutBuffer ---------------------------------------------------------------

namespace {

std::string pending_text(const ioladder::OutBuffer& b) {
    auto p = b.pending();
    return {p.data(), p.size()};
}

size_t put(ioladder::OutBuffer& b, std::string_view s) {
    auto space = b.space();
    size_t n = std::min(space.size(), s.size());
    std::copy_n(s.data(), n, space.data());
    b.commit(n);
    return n;
}

} // namespace

TEST_CASE("an OutBuffer holds at most its capacity and keeps the bytes in order", "[common]") {
    ioladder::OutBuffer b(8);
    CHECK(b.empty());
    CHECK(b.pending().empty()); // no storage yet: nothing to point at
    CHECK(put(b, "abcdef") == 6);
    CHECK(put(b, "ghijk") == 2); // only the room left
    CHECK(b.full());
    CHECK(b.space().empty());
    CHECK(pending_text(b) == "abcdefgh");
    b.consume(3);
    CHECK(pending_text(b) == "defgh");
    CHECK(b.room() == 3);
    // The free room is at the front: space() slides the pending bytes down.
    CHECK(b.space().size() == 3);
    CHECK(put(b, "XYZ") == 3);
    CHECK(pending_text(b) == "defghXYZ");
    b.consume(8);
    CHECK(b.empty());
    CHECK(b.space().size() == 8); // empty: the next read starts at the front
}

TEST_CASE("an OutBuffer offers only the space after its tail until that is used up", "[common]") {
    ioladder::OutBuffer b(8);
    put(b, "abcd");
    b.consume(2);
    // Room is 6, but 4 of it is contiguous after the tail: no slide needed yet.
    CHECK(b.space().size() == 4);
    put(b, "efgh");
    CHECK(b.space().size() == 2); // now the tail is at the end: slide, offer the front
    CHECK(pending_text(b) == "cdefgh");
}

// ---- EMFILE ------------------------------------------------------------------

namespace {

// Lines of `text` that contain `needle`.
int count_lines(const std::string& text, const std::string& needle) {
    std::istringstream in(text);
    int n = 0;
    for (std::string line; std::getline(in, line);)
        if (line.find(needle) != std::string::npos) ++n;
    return n;
}

// utime + stime of a process, in clock ticks (/proc/PID/stat fields 14, 15).
long cpu_ticks(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto close_paren = stat.rfind(')');
    if (close_paren == std::string::npos) return -1;
    std::istringstream rest(stat.substr(close_paren + 2));
    std::string field;
    long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i) {
        if (i == 14) utime = std::stol(field);
        if (i == 15) stime = std::stol(field);
    }
    return utime + stime;
}

void check_emfile(const ServerInfo& server) {
    // 24 descriptors: the server's own (stdio, the shutdown pipe, the
    // listener, the spare, an epoll instance) leave room for about a dozen
    // connections; 40 clients cannot all fit.
    // The child inherits our soft limit at fork: lower it around the start.
    rlimit saved{};
    REQUIRE(getrlimit(RLIMIT_NOFILE, &saved) == 0);
    rlimit low = saved;
    low.rlim_cur = 24;
    REQUIRE(setrlimit(RLIMIT_NOFILE, &low) == 0);
    std::optional<ServerProcess> started;
    try {
        started.emplace(ServerProcess::start(server));
    } catch (...) {
        setrlimit(RLIMIT_NOFILE, &saved);
        throw;
    }
    REQUIRE(setrlimit(RLIMIT_NOFILE, &saved) == 0);
    ServerProcess& proc = *started;
    std::vector<TcpClient> clients;
    for (int i = 0; i < 40; ++i)
        clients.emplace_back(proc.port());
    int served = 0, refused = 0, hanging = 0;
    for (size_t i = 0; i < clients.size(); ++i) {
        const std::string msg = "emfile-" + std::to_string(i) + ";";
        try {
            clients[i].send_all(msg, seconds(2));
            if (clients[i].recv_exact(msg.size(), seconds(3)) == msg) ++served;
        } catch (const std::runtime_error& e) {
            std::string what = e.what();
            if (what.find("timed out") != std::string::npos)
                ++hanging;
            else
                ++refused; // closed at once: EOF, or a reset if our bytes arrived first
        }
    }
    // The refused ones were shed at once; nothing is busy now. A server that
    // spun on its listener would burn a core meanwhile.
    long before = cpu_ticks(proc.pid());
    std::this_thread::sleep_for(milliseconds(500));
    long spent = cpu_ticks(proc.pid()) - before;
    clients.clear(); // descriptors free again
    std::this_thread::sleep_for(milliseconds(200));
    TcpClient fresh(proc.port());
    fresh.send_all("after;");
    CHECK(fresh.recv_exact(6, seconds(5)) == "after;");
    fresh.close();
    int code = proc.stop();
    const std::string err = proc.stderr_text();
    INFO(server.name << " stderr:\n" << err);
    CHECK(code == 0);
    CHECK(hanging == 0);
    CHECK(served >= 1);
    CHECK(refused >= 1);
    CHECK(served + refused == 40);
    CHECK(spent <= 10); // ticks in 500 ms (100 per second): not spinning
    // The refusals came within a few seconds: logged at most once a second.
    int log_lines = count_lines(err, "out of file descriptors");
    CHECK(log_lines >= 1);
    CHECK(log_lines <= 6);
    hostile::figure(server.name, "emfile: served=" + std::to_string(served) +
                                     " refused=" + std::to_string(refused) +
                                     " log_lines=" + std::to_string(log_lines) +
                                     " cpu_ticks_idle_500ms=" + std::to_string(spent));
}

} // namespace

TEST_CASE("every TCP server out of descriptors sheds connections, logs once a second, does not "
          "spin and recovers",
          "[common][emfile]") {
    int checked = 0;
    for (const auto& s : load_server_list(server_list_path())) {
        if (s.proto != "tcp") continue;
        SECTION(s.name) {
            if (Availability a = server_available(s); !a.ok)
                WARN(s.name << " not checked: " << a.reason);
            else
                check_emfile(s);
        }
        ++checked;
    }
    CHECK(checked >= 5);
}

// ---- every demo's command line (options.hpp) --------------------------------

TEST_CASE("every demo of chapters 01 to 03 answers --help with its usage on stdout and exit 0, "
          "and a bad argument with its usage on stderr and exit 2",
          "[common][cli]") {
    // name, folder, bad arguments (each list one invocation)
    struct Demo {
        std::string name, dir;
        std::vector<std::vector<std::string>> bad;
    };
    std::vector<Demo> demos = {
        {"select_cost", "01-select", {{"--bogus"}, {"--fds", "0"}, {"--calls", "many"}}},
        {"level_nagging",
         "02-epoll-level",
         {{"--bogus"}, {"--waits", "0"}, {"--waits", "ten"}, {"--waits", "-3"}, {"--waits"}}},
        {"accept_spread",
         "02-epoll-level",
         {{"--bogus"}, {"--threads", "0"}, {"--threads", "many"}, {"--threads", "-1"}}},
        {"oneshot_workers", "03-epoll-edge", {{"--bogus"}, {"--mode", "nope"}, {"--threads", "0"}}},
        {"registration_race", "03-epoll-edge", {{"--bogus"}, {"--poller", "nope"}}},
    };
    for (const char* w : {"selfpipe", "eventfd"}) {
        demos.push_back({std::string("mio_empty_") + w, "03-epoll-edge", {{"--bogus"}, {"extra"}}});
        demos.push_back({std::string("mio_mixed_") + w,
                         "03-epoll-edge",
                         {{"--bogus"}, {"--interval-ms", "0"}}});
        demos.push_back({std::string("mio_pipe_") + w,
                         "03-epoll-edge",
                         {{"--bogus"}, {"--phase", "nope"}, {"--wakes=0"}}});
    }
    for (auto& d : demos) {
        INFO(d.name);
        const std::string path = program_path(d.dir, d.name);
        for (const char* help : {"--help", "-h"}) {
            RunResult r = run_program({path, help});
            INFO(help << " stderr: " << r.err);
            CHECK(r.exit_code == 0);
            CHECK(r.out.rfind("usage: " + d.name, 0) == 0);
            CHECK(r.err.empty());
        }
        for (auto& args : d.bad) {
            std::vector<std::string> argv{path};
            argv.insert(argv.end(), args.begin(), args.end());
            RunResult r = run_program(argv);
            INFO(args.front() << " stderr: " << r.err);
            CHECK(r.exit_code == 2);
            CHECK(r.out.empty());
            CHECK(r.err.rfind(d.name + ": ", 0) == 0);                  // what was wrong, named...
            CHECK(r.err.find("usage: " + d.name) != std::string::npos); // ...then the usage
        }
    }
}
