// tour.cpp: walks the ladder on this machine. For every registered echo
// server (servers.txt, written by CMake from each chapter's
// ioladder_echo_server() lines) it starts the server on a free port,
// exchanges a few messages, stops it with SIGTERM, and then, when strace is
// usable, measures how many system calls one echoed message costs.
//
//   cmake --workflow --preset tour        (builds everything, then runs this)
//   ./build/default/tests/tour/ioladder_tour build/default/servers.txt
//
// Exits 1 if any server failed to echo or to exit cleanly.
#include "harness.hpp"
#include "strace.hpp"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <string>
#include <sys/utsname.h>
#include <thread>
#include <vector>

using namespace ioladder::test;
using namespace std::chrono_literals;

namespace {

struct Row {
    ServerInfo server;
    std::string echoed; // "5/5 OK", "2/5 FAILED"
    bool ok = false;
    std::string cost;   // "4.00" or "n/a (reason)"
    std::string detail; // "select 2.00, recv 1.00, ..."
};

// A few messages of different sizes, one of them larger than one read.
std::vector<std::string> sample_messages(const std::string& proto) {
    std::vector<std::string> msgs{"hello, ladder\n", pattern_bytes(1, 512), pattern_bytes(2, 1400)};
    if (proto == "tcp") msgs.push_back(pattern_bytes(3, 200 * 1024));
    msgs.push_back("bye\n");
    return msgs;
}

// Starts the server, echoes the sample messages, stops it. Fills echoed/ok.
void check_echo(Row& row) {
    auto msgs = sample_messages(row.server.proto);
    int good = 0;
    std::string problem;
    try {
        auto server = ServerProcess::start(row.server);
        if (row.server.proto == "udp") {
            UdpClient client(server.port());
            for (const auto& m : msgs) {
                client.send(m);
                auto back = client.recv(2s);
                if (back && *back == m) ++good;
            }
        } else {
            TcpClient client(server.port());
            for (const auto& m : msgs) {
                client.send_all(m);
                if (client.recv_exact(m.size(), 5s) == m) ++good;
            }
        }
        int code = server.stop();
        if (code != 0) problem = ", exit " + std::to_string(code);
    } catch (const std::exception& e) {
        problem = std::string(", ") + e.what();
    }
    row.ok = good == static_cast<int>(msgs.size()) && problem.empty();
    row.echoed = std::to_string(good) + "/" + std::to_string(msgs.size()) +
                 (row.ok ? " OK" : " FAILED" + problem);
}

void measure(Row& row, const Availability& strace) {
    if (!strace.ok) {
        row.cost = "n/a (" + strace.reason + ")";
        return;
    }
    try {
        EchoCost cost = measure_echo_cost(row.server, 200);
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.2f", cost.syscalls_per_message);
        row.cost = buf;
        // The calls that make up the figure, most frequent first.
        std::vector<std::pair<std::string, double>> calls(cost.per_call.begin(),
                                                          cost.per_call.end());
        std::sort(calls.begin(), calls.end(),
                  [](const auto& a, const auto& b) { return a.second > b.second; });
        for (const auto& [name, per] : calls) {
            if (per < 0.005) continue;
            std::snprintf(buf, sizeof buf, "%s%s %.2f", row.detail.empty() ? "" : ", ",
                          name.c_str(), per);
            row.detail += buf;
        }
        std::remove(cost.trace_path.c_str());
    } catch (const std::exception& e) {
        row.cost = std::string("n/a (") + e.what() + ")";
    }
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s SERVERS_FILE\n", argv[0]);
        return 2;
    }
    std::vector<Row> rows;
    try {
        for (auto& s : load_server_list(argv[1]))
            rows.push_back(Row{s, "", false, "", ""});
    } catch (const std::exception& e) {
        std::fprintf(stderr, "tour: %s\n", e.what());
        return 2;
    }
    utsname un{};
    uname(&un);
    std::printf("\nioladder tour: every echo server on this machine (%s %s, %u cores)\n",
                un.sysname, un.release, std::thread::hardware_concurrency());

    Availability strace = strace_available();
    for (Row& row : rows) {
        if (Availability a = server_available(row.server); !a.ok) {
            row.ok = true; // not a failure: this machine cannot run it
            row.echoed = "skipped";
            row.cost = "n/a";
            row.detail = a.reason;
            continue;
        }
        check_echo(row);
        if (row.ok)
            measure(row, strace);
        else
            row.cost = "n/a (echo failed)";
    }

    int width = 20; // the program column fits the longest name, with its "(via epoll)"
    for (const Row& r : rows)
        width = std::max(width, static_cast<int>(r.server.label().size()));
    std::printf("\n%-8s %-*s %-6s %-12s %-14s %s\n", "chapter", width, "program", "proto", "echoed",
                "syscalls/echo", "made of (per echoed message)");
    std::printf("%s\n", std::string(80 + static_cast<size_t>(width), '-').c_str());
    bool all_ok = true;
    for (const Row& r : rows) {
        std::printf("%-8s %-*s %-6s %-12s %-14s %s\n", r.server.chapter.c_str(), width,
                    r.server.label().c_str(), r.server.proto.c_str(), r.echoed.c_str(),
                    r.cost.c_str(), r.detail.c_str());
        all_ok = all_ok && r.ok;
    }
    std::printf("\nsyscalls/echo: system calls the server made per echoed message, counted by\n"
                "strace -f between the first and the last of 200 sequential round trips (for\n"
                "io_uring servers, whose data passes through no call: 200 round trips minus 20).\n"
                "Next: read book/00-introduction.md, then cmake --workflow --preset test.\n\n");
    return all_ok ? 0 : 1;
}
