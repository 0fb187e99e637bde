// book_commands_test.cpp: every shell command in the book runs as written.
//
// Each `sh`, `bash`, `shell` or `console` block of book/*.md is run from the
// repository root as `timeout 60 bash -e BLOCK`, after the default build
// (the commands name ./build/default/...), unless the line above it marks it
// `<!-- interactive: why -->` (see book/README.md). A block fails when it
// exits non-zero, runs past the timeout, or leaves a process running (a
// block that starts a server stops it). The failure names the block
// (file:line) and shows its output.
//
// Blocks are grouped by what they need: nothing more than the build; `nc`;
// `strace` that can trace (ptrace may be forbidden in a container). A group
// whose tool is missing is reported skipped with the reason, never passed.
//
// The last cases run the runner itself on small blocks, so a runner that
// stops noticing failures, timeouts or leftover processes fails too.
#include "book_check.hpp"
#include "catch_compat.hpp"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <regex>
#include <sstream>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace ioladder::book;

namespace {

const fs::path kRepo = IOLADDER_SOURCE_DIR;
const fs::path kBuild = IOLADDER_BINARY_DIR;
constexpr int kTimeoutSeconds = 60;

struct BlockResult {
    int exit_code = -1; // bash's exit status; 128+N if a signal N ended it
    bool timed_out = false;
    std::vector<std::string> leftovers; // "PID: command line" still running afterwards
    std::string output;                 // stdout and stderr, interleaved
};

std::string read_all(int fd) {
    std::string out;
    char buf[4096];
    lseek(fd, 0, SEEK_SET);
    for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;)
        out.append(buf, static_cast<size_t>(n));
    return out;
}

std::string command_line(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
    std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (char& c : s)
        if (c == '\0') c = ' ';
    return s;
}

// Our living children: with PR_SET_CHILD_SUBREAPER, whatever a block left
// running is reparented to us when the block's shell exits.
std::vector<pid_t> living_children() {
    while (waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    std::ifstream in("/proc/self/task/" + std::to_string(getpid()) + "/children");
    std::vector<pid_t> pids;
    for (pid_t p; in >> p;)
        pids.push_back(p);
    return pids;
}

// Runs `script` with `timeout -k 5 SECONDS bash -e` in `cwd`, stdin from
// /dev/null, in a process group of its own. Afterwards every process it left
// behind is listed and killed.
BlockResult run_block(const std::string& script, const fs::path& cwd, int seconds) {
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    char script_path[] = "/tmp/ioladder-block-XXXXXX";
    int sfd = mkstemp(script_path);
    REQUIRE(sfd >= 0);
    REQUIRE(write(sfd, script.data(), script.size()) == static_cast<ssize_t>(script.size()));
    close(sfd);
    char out_path[] = "/tmp/ioladder-block-out-XXXXXX";
    int ofd = mkstemp(out_path);
    REQUIRE(ofd >= 0);
    unlink(out_path);

    const std::string limit = std::to_string(seconds);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        setpgid(0, 0);
        int devnull = open("/dev/null", O_RDONLY);
        if (chdir(cwd.c_str()) < 0 || devnull < 0) _exit(126);
        dup2(devnull, 0);
        dup2(ofd, 1);
        dup2(ofd, 2);
        execlp("timeout", "timeout", "-k", "5", limit.c_str(), "bash", "-e", script_path,
               static_cast<char*>(nullptr));
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    BlockResult r;
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.timed_out = r.exit_code == 124 || r.exit_code == 137;
    // The shell has exited, so whatever it started and did not stop is now
    // our child. List it, then kill it (and its own children, which become
    // ours in turn).
    for (pid_t p : living_children())
        r.leftovers.push_back(std::to_string(p) + ": " + command_line(p));
    kill(-pid, SIGKILL);
    for (int round = 0; round < 10; ++round) {
        auto pids = living_children();
        if (pids.empty()) break;
        for (pid_t p : pids) {
            kill(p, SIGKILL);
            waitpid(p, nullptr, 0);
        }
    }
    r.output = read_all(ofd);
    close(ofd);
    unlink(script_path);
    return r;
}

// The last `n` lines of `text`.
std::string tail(const std::string& text, size_t n) {
    auto lines = split_lines(text);
    std::string out;
    size_t from = lines.size() > n ? lines.size() - n : 0;
    if (from > 0) out = "[... " + std::to_string(from) + " lines before]\n";
    for (size_t i = from; i < lines.size(); ++i)
        out += lines[i] + "\n";
    return out;
}

// Empty if the block ran as it should; else what went wrong, for FAIL_CHECK.
std::string judge(const CommandBlock& b, const BlockResult& r, int seconds) {
    std::string why;
    if (r.timed_out)
        why = "did not finish within " + std::to_string(seconds) + " s";
    else if (r.exit_code != 0)
        why = "exited with status " + std::to_string(r.exit_code);
    if (!r.leftovers.empty()) {
        if (!why.empty()) why += ", and ";
        why += "left running (killed now):";
        for (const auto& l : r.leftovers)
            why += "\n  " + l;
    }
    if (why.empty()) return "";
    return b.where() + ": the command block " + why + "\n--- block ---\n" + b.script() +
           "--- output ---\n" + tail(r.output, 40);
}

struct Book {
    std::vector<CommandBlock> blocks;
    std::vector<Problem> problems;
};

Book read_book() {
    Book book;
    for (const auto& md : Checker(kRepo).book_files()) {
        std::string text;
        REQUIRE(read_file(md, text));
        auto found = command_blocks(text, "book/" + md.filename().string());
        book.blocks.insert(book.blocks.end(), found.blocks.begin(), found.blocks.end());
        book.problems.insert(book.problems.end(), found.problems.begin(), found.problems.end());
    }
    return book;
}

bool uses(const CommandBlock& b, const char* tool) {
    return std::regex_search(b.script(), std::regex(std::string("(^|[\\s|;&(`])") + tool + "\\s"));
}

// Why the book's commands cannot run in this build, or "" if they can.
std::string build_unavailable() {
    std::error_code ec;
    if (!fs::equivalent(kBuild, kRepo / "build" / "default", ec))
        return "the book's commands use ./build/default and this build is " + kBuild.string() +
               " (run the default preset's tests)";
    return "";
}

bool shell_ok(const std::string& command) {
    return std::system(command.c_str()) == 0;
}

// A block that would run this test again (a workflow, or ctest without a
// -R/-L filter) is refused, not run: unmarked, it would recurse. Returns why.
std::string recursion(const CommandBlock& b) {
    static const std::regex workflow(R"((^|\s)cmake\s+--workflow)");
    static const std::regex ctest(R"((^|[\s;&|(])ctest\s)");
    static const std::regex filter(R"(\s(-R|-L|--tests-regex|--label-regex)[\s=])");
    for (const auto& line : split_lines(b.script())) {
        if (std::regex_search(line, workflow))
            return "runs a cmake workflow (a configure and a build, and for test or exercises "
                   "the test suite, which contains this test)";
        if (std::regex_search(line + " ", ctest) && !std::regex_search(line + " ", filter))
            return "runs ctest without -R or -L, which would run this test again";
    }
    return "";
}

// Runs every block of the book that is not interactive and for which
// `select` is true; fails per block. Prints what ran.
void run_selected(const std::string& group, bool (*select)(const CommandBlock&)) {
    Book book = read_book();
    std::vector<std::string> ran;
    for (const auto& b : book.blocks) {
        if (b.interactive || !select(b)) continue;
        if (auto why = recursion(b); !why.empty()) {
            FAIL_CHECK(b.where() + ": not run: the block " + why +
                       "; mark it <!-- interactive: REASON --> (book/README.md)");
            continue;
        }
        BlockResult r = run_block(b.script(), kRepo, kTimeoutSeconds);
        std::string why = judge(b, r, kTimeoutSeconds);
        if (!why.empty()) FAIL_CHECK(why);
        ran.push_back(b.where());
    }
    std::printf("figure: book commands (%s): ran %zu blocks:", group.c_str(), ran.size());
    for (const auto& w : ran)
        std::printf(" %s", w.c_str());
    std::printf("\n");
    SUCCEED();
}

bool needs_nothing(const CommandBlock& b) {
    return !uses(b, "nc") && !uses(b, "strace");
}
bool needs_nc_only(const CommandBlock& b) {
    return uses(b, "nc") && !uses(b, "strace");
}
bool needs_strace(const CommandBlock& b) {
    return uses(b, "strace");
}

} // namespace

// ------------------------------------------------------------ the real book

TEST_CASE("every interactive marker in the book stands directly above a command block",
          "[book][commands]") {
    Book book = read_book();
    for (const auto& p : book.problems)
        FAIL_CHECK(p.text());
    int interactive = 0;
    for (const auto& b : book.blocks)
        interactive += b.interactive;
    std::printf("figure: book commands: %zu blocks, %d marked interactive\n", book.blocks.size(),
                interactive);
    SUCCEED();
}

TEST_CASE("the book's command blocks that need only the build run as written from the "
          "repository root",
          "[book][commands]") {
    if (auto why = build_unavailable(); !why.empty()) IOLADDER_SKIP(why);
    run_selected("build only", needs_nothing);
}

TEST_CASE("the book's command blocks that use nc run as written from the repository root",
          "[book][commands]") {
    if (auto why = build_unavailable(); !why.empty()) IOLADDER_SKIP(why);
    if (!shell_ok("command -v nc >/dev/null 2>&1"))
        IOLADDER_SKIP("nc is not installed (Debian: netcat-openbsd)");
    run_selected("nc", needs_nc_only);
}

TEST_CASE("the book's command blocks that use strace run as written from the repository root",
          "[book][commands]") {
    if (auto why = build_unavailable(); !why.empty()) IOLADDER_SKIP(why);
    if (!shell_ok("strace -f -o /dev/null true >/dev/null 2>&1"))
        IOLADDER_SKIP("strace is missing or may not trace here (ptrace not permitted)");
    if (!shell_ok("command -v nc >/dev/null 2>&1"))
        IOLADDER_SKIP("nc is not installed (Debian: netcat-openbsd)");
    run_selected("strace", needs_strace);
}

// ------------------------------------------------------------ the runner itself

namespace {
CommandBlock fake_block(std::string body) {
    CommandBlock b;
    b.file = "fixture.md";
    b.line = 7;
    b.lang = "sh";
    b.lines = split_lines(body);
    return b;
}
} // namespace

TEST_CASE("a block that succeeds passes, and one that fails is named with its status and output",
          "[book][commands][runner]") {
    auto ok = fake_block("echo hello\ntrue\n");
    CHECK(judge(ok, run_block(ok.script(), kRepo, 10), 10).empty());

    auto bad = fake_block("echo before\nfalse\necho never printed\n");
    std::string why = judge(bad, run_block(bad.script(), kRepo, 10), 10);
    INFO(why);
    CHECK(why.find("fixture.md:7: the command block exited with status 1") == 0);
    CHECK(why.find("before") != std::string::npos);
    CHECK(why.find("never printed\n--- output") != std::string::npos); // in the block only
}

TEST_CASE("a block runs from the repository root", "[book][commands][runner]") {
    auto b = fake_block("test -f book/README.md\ntest -d chapters\n");
    auto r = run_block(b.script(), kRepo, 10);
    INFO(r.output);
    CHECK(r.exit_code == 0);
}

TEST_CASE("a block that runs past its timeout is stopped and reported",
          "[book][commands][runner]") {
    auto b = fake_block("sleep 30\n");
    auto r = run_block(b.script(), kRepo, 1);
    CHECK(r.timed_out);
    CHECK(judge(b, r, 1).find("did not finish within 1 s") != std::string::npos);
}

TEST_CASE("a block that leaves a process running fails, and the process is killed",
          "[book][commands][runner]") {
    // setsid: the sleeper escapes the block's process group, as a job started
    // under `set -m` would; the runner still finds it.
    auto b = fake_block("sleep 300 &\nsetsid sleep 301 &\necho started\n");
    auto r = run_block(b.script(), kRepo, 10);
    CHECK(r.exit_code == 0);
    REQUIRE(r.leftovers.size() >= 1);
    std::string why = judge(b, r, 10);
    INFO(why);
    CHECK(why.find("left running (killed now)") != std::string::npos);
    CHECK(why.find("sleep 301") != std::string::npos);
    CHECK(living_children().empty());
}

TEST_CASE("a block that would run the test suite again is refused, not run",
          "[book][commands][runner]") {
    CHECK(!recursion(fake_block("cmake --workflow --preset test\n")).empty());
    CHECK(!recursion(fake_block("cmake --build --preset exercises && ctest --preset exercises\n"))
               .empty());
    CHECK(recursion(fake_block("ctest --preset default -R \"flooding client\" -V\n")).empty());
    CHECK(recursion(fake_block("ctest --test-dir build/default -L ch01\n")).empty());
    CHECK(recursion(fake_block("cmake --build build/default --target select_cost\n")).empty());
}

// ------------------------------------------------------------ extraction

TEST_CASE("command blocks are the sh, bash, shell and console fences outside other fences",
          "[book][commands][parse]") {
    auto found = command_blocks("text\n"
                                "```sh\necho one\n```\n"
                                "```cpp\nint x;\n```\n"
                                "````markdown\n```sh\necho inside an example\n```\n````\n"
                                "```bash\necho two\n```\n"
                                "```console\n$ echo three \\\n  continued\nthree continued\n"
                                "$ echo four\nfour\n```\n",
                                "f.md");
    CHECK(found.problems.empty());
    REQUIRE(found.blocks.size() == 3);
    CHECK(found.blocks[0].where() == "f.md:2");
    CHECK(found.blocks[0].script() == "echo one\n");
    CHECK(found.blocks[1].lang == "bash");
    CHECK(found.blocks[2].script() == "echo three \\\n  continued\necho four\n");
}

TEST_CASE("a block under an interactive marker is not run, and a stray marker is reported",
          "[book][commands][parse]") {
    auto found =
        command_blocks("<!-- interactive: type into nc -->\n```sh\nnc 127.0.0.1 2000\n```\n"
                       "<!-- interactive -->\n```sh\nless x\n```\n"
                       "<!-- interactive: nothing below -->\n\n```sh\necho run\n```\n"
                       "<!-- interactive: above cpp -->\n```cpp\nint x;\n```\n",
                       "f.md");
    REQUIRE(found.blocks.size() == 3);
    CHECK(found.blocks[0].interactive);
    CHECK(found.blocks[0].reason == "type into nc");
    CHECK(found.blocks[1].interactive);
    CHECK(found.blocks[1].reason.empty());
    CHECK(!found.blocks[2].interactive);
    REQUIRE(found.problems.size() == 2);
    CHECK(found.problems[0].kind == Kind::StrayInteractiveMarker);
    CHECK(found.problems[0].line == 9);
    CHECK(found.problems[1].line == 14);
}
