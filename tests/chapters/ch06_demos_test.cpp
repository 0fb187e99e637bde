// ch06_demos_test.cpp: chapter 06's probe and cancellation demo, graded.
//
// probe_uring must name every opcode the chapter uses, try what has no
// feature bit (multishot accept and recv, buffer rings, SQPOLL,
// DEFER_TASKRUN) and say what the chapter makes of it. cancel_race must show
// the facts of IORING_OP_ASYNC_CANCEL: two CQEs for every cancel of an
// operation in flight, each pair one of the outcomes io_uring allows, -ENOENT
// for a user_data nothing has, and a cancelled recv that leaves its data in
// the socket. Which outcome wins a race, and which CQE comes first, are the
// kernel's business: counted by the demo, never asserted here.
//
// ownership_wrong is not built by default (it is a use-after-free on
// purpose), so nothing here runs it; its header says how to run it under the
// asan preset.
//
// Where io_uring_setup fails, the programs exit 1 with the reason, and every
// case here is skipped with that reason.
#include "catch_compat.hpp"
#include "harness.hpp"

#include <map>
#include <sstream>
#include <string>

using namespace ioladder::test;

namespace {

std::string program(const std::string& name) {
    return program_path("06-uring", name);
}

// True when the program said io_uring is not there (exit 1, "io_uring_setup: ...").
bool unavailable(const RunResult& r) {
    return r.exit_code == 1 && r.err.find("io_uring_setup") != std::string::npos;
}

// The line of `out` that starts with `prefix`, or "".
std::string line_of(const std::string& out, const std::string& prefix) {
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);)
        if (line.rfind(prefix, 0) == 0) return line;
    return "";
}

// The words "key=value" of that line ("race: tries=2000 ...").
std::map<std::string, std::string> values_of(const std::string& out, const std::string& prefix) {
    std::map<std::string, std::string> values;
    std::istringstream words(line_of(out, prefix));
    for (std::string w; words >> w;)
        if (size_t eq = w.find('='); eq != std::string::npos)
            values[w.substr(0, eq)] = w.substr(eq + 1);
    return values;
}

long number(std::map<std::string, std::string>& values, const std::string& key) {
    INFO("key " << key);
    REQUIRE(values.count(key) == 1);
    return std::stol(values[key]);
}

} // namespace

TEST_CASE("probe_uring names the chapter's opcodes, tries what has no feature bit and says what "
          "the chapter will use",
          "[ch06]") {
    RunResult r = run_program({program("probe_uring")});
    if (unavailable(r)) IOLADDER_SKIP(r.err);
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    std::string features = line_of(r.out, "features (IORING_FEAT_*):");
    REQUIRE_FALSE(features.empty());
    CHECK(features.find(" SINGLE_MMAP") != std::string::npos); // every kernel since 5.4
    if (line_of(r.out, "opcodes: IORING_REGISTER_PROBE failed").empty()) {
        for (const char* op : {"NOP", "ACCEPT", "RECV", "RECVMSG", "SENDMSG", "POLL_ADD", "TIMEOUT",
                               "ASYNC_CANCEL", "OPENAT"}) {
            INFO("opcode " << op);
            std::string line = line_of(r.out, std::string("  ") + op + " ");
            CHECK((line.find(" yes ") != std::string::npos ||
                   line.find(" NO ") != std::string::npos));
        }
        CHECK_FALSE(line_of(r.out, "  and ").empty());
    }
    std::map<std::string, bool> tried;
    for (const char* what : {"multishot accept", "provided-buffer ring", "multishot recv", "SQPOLL",
                             "SINGLE_ISSUER|DEFER_TASKRUN"}) {
        INFO("tried " << what);
        std::string line = line_of(r.out, std::string("  ") + what + " ");
        REQUIRE_FALSE(line.empty());
        tried[what] = line.find(" yes ") != std::string::npos;
    }
    // The verdict follows from what worked.
    bool multishot = tried["multishot accept"] && tried["multishot recv"];
    CHECK(line_of(r.out, "  echo_tcp_uring: multishot").empty() == !multishot);
    CHECK(line_of(r.out, "  ring flags: SINGLE_ISSUER|DEFER_TASKRUN").empty() ==
          !tried["SINGLE_ISSUER|DEFER_TASKRUN"]);
    CHECK(line_of(r.out, "  --sqpoll: works").empty() == !tried["SQPOLL"]);
    bool nodrop = features.find(" NODROP") != std::string::npos;
    CHECK(line_of(r.out, "  completions: none lost").empty() == !nodrop);
}

TEST_CASE("cancel_race: an idle recv is stopped, an unknown user_data is -ENOENT, a completed "
          "operation is -ENOENT, a running one -EALREADY or stopped",
          "[ch06]") {
    RunResult r = run_program({program("cancel_race"), "--tries", "0"});
    if (unavailable(r)) IOLADDER_SKIP(r.err);
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);

    auto idle = values_of(r.out, "idle recv:");
    CHECK(idle["cancel"] == "0");
    CHECK(idle["target"] == "-ECANCELED");
    CHECK(values_of(r.out, "unknown:")["cancel"] == "-ENOENT");
    auto done = values_of(r.out, "completed:");
    CHECK(done["cancel"] == "-ENOENT");
    CHECK(done["target"] == "0");

    // A byte arrived before the cancel: either the recv had it (and the
    // cancel found nothing) or the cancel stopped it first. Never both.
    for (const char* name : {"data first:", "deferred:"}) {
        auto f = values_of(r.out, name);
        if (f.empty()) continue; // "deferred: skipped" on a kernel before 6.1
        INFO(name);
        bool had_it = f["cancel"] == "-ENOENT" && f["target"] == "1";
        bool stopped = f["cancel"] == "0" && f["target"] == "-ECANCELED";
        CHECK((had_it || stopped));
    }
    CHECK(r.out.find("the byte is gone") == std::string::npos); // a stopped recv took nothing
    auto running = values_of(r.out, "running:");
    if (running["cancel"] == "-EALREADY")
        CHECK(running["target"] != "-ECANCELED"); // it ends on its own, interrupted
    else
        CHECK((running["cancel"] == "0" && running["target"] == "-ECANCELED"));
}

TEST_CASE("cancel_race: in 2000 races of a timer and a cancel, both CQEs always arrive and every "
          "pair is an allowed outcome",
          "[ch06]") {
    for (const char* mode : {"", "--defer-taskrun"}) {
        std::vector<std::string> argv = {program("cancel_race"), "--tries", "2000"};
        if (*mode) argv.push_back(mode);
        RunResult r = run_program(argv, std::chrono::seconds(60));
        if (unavailable(r)) IOLADDER_SKIP(r.err);
        INFO(mode << "\n" << r.out << r.err);
        REQUIRE(r.exit_code == 0);
        if (!line_of(r.out, "race:        skipped").empty()) continue; // no DEFER_TASKRUN
        auto race = values_of(r.out, "race:");
        CHECK(number(race, "tries") == 2000);
        CHECK(number(race, "not_allowed") == 0);
        CHECK(number(race, "stopped") + number(race, "completed") + number(race, "already") ==
              2000);
        CHECK(number(race, "target_first") + number(race, "cancel_first") == 2000);
    }
}

TEST_CASE("the chapter's demos answer --help on stdout with exit 0, and a bad argument with "
          "the usage on stderr and exit 2",
          "[ch06]") {
    for (const char* name : {"probe_uring", "cancel_race"}) {
        INFO(name);
        RunResult help = run_program({program(name), "--help"});
        CHECK(help.exit_code == 0);
        CHECK(help.out.rfind("usage: ", 0) == 0);
        RunResult bad = run_program({program(name), "--bogus"});
        CHECK(bad.exit_code == 2);
        CHECK(bad.err.find("usage: ") != std::string::npos);
    }
    RunResult tries = run_program({program("cancel_race"), "--tries", "-1"});
    CHECK(tries.exit_code == 2);
}
