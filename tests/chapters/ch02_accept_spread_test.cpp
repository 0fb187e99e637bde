// ch02_accept_spread_test.cpp: chapter 02's accept_spread demo, graded on
// structure, never on speed.
//
// accept_spread prints one row per setup (shared listener, EPOLLEXCLUSIVE,
// SO_REUSEPORT): accepted, twice, never, wakeups, wakeups per connection,
// empty wakeups, then the connections each thread accepted. The facts
// checked here hold on any machine: every connection is accepted exactly
// once; the exclusive registration wakes no more threads per connection than
// the plain one; and SO_REUSEPORT hands every thread some connections when
// there are many more connections than threads.
#include "catch_compat.hpp"
#include "harness.hpp"
#include "hostile.hpp"

#include <map>
#include <sstream>
#include <string>
#include <vector>

using namespace ioladder::test;
using ioladder::test::hostile::figure;

namespace {

// accept_spread is built next to the chapter's servers (same folder).
std::string spread_path() {
    return program_path("02-epoll-level", "accept_spread");
}

struct Row {
    long accepted = -1, twice = -1, never = -1, wakeups = -1;
    double per_conn = -1;
    long empty = -1;
    std::vector<long> per_thread;
};

// The rows of the table, by setup name.
std::map<std::string, Row> parse_rows(const std::string& out) {
    std::map<std::string, Row> rows;
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);) {
        std::istringstream in(line);
        std::string name;
        in >> name;
        if (name != "shared" && name != "exclusive" && name != "reuseport") continue;
        Row r;
        in >> r.accepted >> r.twice >> r.never >> r.wakeups >> r.per_conn >> r.empty;
        for (long n; in >> n;)
            r.per_thread.push_back(n);
        rows[name] = r;
    }
    return rows;
}

} // namespace

TEST_CASE("accept_spread accepts every connection once, wakes no more threads with "
          "EPOLLEXCLUSIVE, and spreads connections over every thread with SO_REUSEPORT",
          "[ch02][accept_spread]") {
    const int threads = 4;
    const long connections = 400; // 100 per thread: SO_REUSEPORT leaves none empty
    RunResult r = run_program({spread_path(), "--threads", std::to_string(threads), "--connections",
                               std::to_string(connections)},
                              std::chrono::seconds(60));
    INFO("stdout:\n" << r.out << "stderr:\n" << r.err);
    REQUIRE(r.exit_code == 0);
    auto rows = parse_rows(r.out);
    REQUIRE(rows.size() == 3);
    for (const auto& [name, row] : rows) {
        INFO("setup " << name);
        CHECK(row.accepted == connections);
        CHECK(row.twice == 0);
        CHECK(row.never == 0);
        REQUIRE(row.per_thread.size() == threads);
        long sum = 0;
        for (long n : row.per_thread)
            sum += n;
        CHECK(sum == connections);
    }
    CHECK(rows["exclusive"].wakeups <= rows["shared"].wakeups);
    for (long n : rows["reuseport"].per_thread)
        CHECK(n > 0);
    figure("accept_spread", "wakeups_per_conn shared=" + std::to_string(rows["shared"].per_conn) +
                                " exclusive=" + std::to_string(rows["exclusive"].per_conn) +
                                " reuseport=" + std::to_string(rows["reuseport"].per_conn));
}
