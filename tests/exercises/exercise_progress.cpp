// exercise_progress: how far the learner is, derived from test results alone.
//
//   exercise_progress <list.tsv> [--ctest-log <file or dir>] [--timeout <s>]
//                     [--list-args "<args>"] [--report]
//
// The list is written by cmake/Exercises.cmake, one exercise per line in the
// manifest's learning order: label, chapter, name, title, hint, stub path,
// test executable, skip reason (tab-separated).
//
// An exercise is done when all its tests pass. The results come from the
// CTest run that just happened when it covered the exercise: --ctest-log
// names its log (CTest's Testing/Temporary/LastTest.log, or the .tmp it
// writes while the run is still going, which is when the post-test command
// runs). An exercise whose tests failed there is not done; one whose tests
// all passed there (every case its executable lists with --list-args) is
// done. Every other exercise, or all of them without a log, has its test
// executable run now, with --timeout seconds for the whole executable, so one
// that hangs costs that much and no more. There is no saved state to go
// stale: edit a stub, rebuild, and the next run says so.
//
// Prints one bar per chapter and, for the first unfinished exercise, its
// title, files and hint. Exits 0 when every exercise is done, 1 otherwise
// (always 0 with --report), 2 on bad usage.
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <map>
#include <poll.h>
#include <set>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace {

struct Exercise {
    std::string label, chapter, name, title, hint, stub, exe, skip;
    std::string outcome; // "" when done, else why not
    bool from_log = false;
};

std::vector<std::string> split(const std::string& line, char sep) {
    std::vector<std::string> fields;
    std::string field;
    std::istringstream in(line);
    while (std::getline(in, field, sep))
        fields.push_back(field);
    if (!line.empty() && line.back() == sep) fields.emplace_back();
    return fields;
}

struct Run {
    bool exited = false;   // false: killed at the time limit, or could not start
    int status = 0;        // exit status when exited
    std::string error;     // why it could not be run, or how it died
    std::string stdout_;   // what it printed on stdout (listing only)
    std::string last_step; // the last "step: ..." line it printed on stderr
};

// Runs exe with args, output captured, for at most timeout_s seconds; a
// process that outlives its limit is killed with its whole process group.
Run run(const std::string& exe, const std::vector<std::string>& args, int timeout_s) {
    Run r;
    if (access(exe.c_str(), X_OK) != 0) {
        r.error = "not built (" + exe + ")";
        return r;
    }
    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
        r.error = std::string("pipe: ") + std::strerror(errno);
        return r;
    }
    pid_t pid = fork();
    if (pid < 0) {
        r.error = std::string("fork: ") + std::strerror(errno);
        return r;
    }
    if (pid == 0) {
        setpgid(0, 0); // its own process group, so a time-out kills any children too
        int null = open("/dev/null", O_RDONLY);
        dup2(null, STDIN_FILENO);
        dup2(out[1], STDOUT_FILENO);
        dup2(err[1], STDERR_FILENO);
        std::vector<char*> argv{const_cast<char*>(exe.c_str())};
        for (const std::string& a : args)
            argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        execv(exe.c_str(), argv.data());
        _exit(127);
    }
    setpgid(pid, pid);
    close(out[1]);
    close(err[1]);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    std::string errors;
    pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
    int open_pipes = 2;
    bool timed_out = false;
    while (open_pipes > 0) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            timed_out = true;
            break;
        }
        int n = poll(fds, 2, static_cast<int>(left.count()));
        if (n < 0 && errno != EINTR) break;
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            char buf[4096];
            ssize_t got = read(fds[i].fd, buf, sizeof buf);
            if (got <= 0) {
                close(fds[i].fd);
                fds[i].fd = -1;
                --open_pipes;
                continue;
            }
            std::string& into = i == 0 ? r.stdout_ : errors;
            into.append(buf, static_cast<std::size_t>(got));
            if (i == 1 && errors.size() > 65536) errors.erase(0, errors.size() - 16384);
        }
    }
    for (pollfd& p : fds)
        if (p.fd >= 0) close(p.fd);
    int status = 0;
    if (timed_out) {
        kill(-pid, SIGKILL);
        waitpid(pid, &status, 0);
    } else {
        // The pipes closed: the process is exiting. Wait, within the limit.
        for (;;) {
            pid_t w = waitpid(pid, &status, WNOHANG);
            if (w == pid) break;
            if (std::chrono::steady_clock::now() > deadline) {
                timed_out = true;
                kill(-pid, SIGKILL);
                waitpid(pid, &status, 0);
                break;
            }
            usleep(2000);
        }
    }
    for (const std::string& line : split(errors, '\n'))
        if (line.rfind("step: ", 0) == 0) r.last_step = line.substr(6);
    if (timed_out) {
        r.error = "timed out after " + std::to_string(timeout_s) + " s";
        if (!r.last_step.empty()) r.error += " in step: " + r.last_step;
        return r;
    }
    if (WIFSIGNALED(status)) {
        r.error = std::string("crashed: ") + strsignal(WTERMSIG(status));
        return r;
    }
    r.exited = true;
    r.status = WEXITSTATUS(status);
    return r;
}

// The results in a CTest log: test name -> passed. Empty if it cannot be read.
std::map<std::string, bool> read_ctest_log(const std::string& path) {
    std::string file = path;
    struct stat st {};
    if (stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
        // While the post-test command runs, CTest is still writing
        // LastTest.log.tmp; after the run it is renamed LastTest.log. Take the newer.
        std::string tmp = path + "/LastTest.log.tmp", done = path + "/LastTest.log";
        struct stat a {
        }, b{};
        bool has_tmp = stat(tmp.c_str(), &a) == 0, has_done = stat(done.c_str(), &b) == 0;
        file = has_tmp && (!has_done || a.st_mtime >= b.st_mtime) ? tmp : done;
    }
    std::map<std::string, bool> results;
    std::ifstream in(file);
    std::string line, current;
    bool passed = false;
    auto finish = [&] {
        if (!current.empty()) results[current] = passed;
        current.clear();
    };
    while (std::getline(in, line)) {
        // "3/12 Testing: <name>" starts a test's block.
        auto at = line.find(" Testing: ");
        if (at != std::string::npos && at > 0 && line.find('/') < at &&
            line.find_first_not_of("0123456789/") == at) {
            finish();
            current = line.substr(at + 10);
            passed = false;
            continue;
        }
        if (current.empty()) continue;
        // "Test Passed.", or "Test Pass Reason:" (e.g. skipped by its regular expression).
        if (line == "Test Passed." || line.rfind("Test Pass Reason:", 0) == 0) passed = true;
        if (line.rfind("Test Failed", 0) == 0) passed = false;
    }
    finish();
    return results;
}

// "[##>-----]": one '#' per eighth done, '>' marks where work continues.
std::string bar(int done, int total) {
    const int width = 8;
    int filled = total > 0 ? width * done / total : width;
    std::string b(static_cast<std::size_t>(filled), '#');
    if (filled < width) {
        b += '>';
        b.append(static_cast<std::size_t>(width - filled - 1), '-');
    }
    return "[" + b + "]";
}

// Wraps `text` at 76 columns, each line starting with `indent`.
std::string wrap(const std::string& text, const std::string& indent) {
    std::istringstream words(text);
    std::string word, out, line;
    while (words >> word) {
        if (!line.empty() && line.size() + 1 + word.size() > 76 - indent.size()) {
            out += indent + line + "\n";
            line.clear();
        }
        line += (line.empty() ? "" : " ") + word;
    }
    if (!line.empty()) out += indent + line + "\n";
    return out;
}

int usage(const char* argv0) {
    std::fprintf(stderr,
                 "usage: %s <exercise list.tsv> [--ctest-log <file or dir>] [--timeout <s>]\n"
                 "       [--list-args \"<args>\"] [--report]\n",
                 argv0);
    return 2;
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 2) return usage(argv[0]);
    std::string list_path = argv[1], log_path;
    std::vector<std::string> list_args{"--list-test-names-only"};
    int timeout_s = 10;
    bool report = false;
    for (int i = 2; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--report") {
            report = true;
        } else if (a == "--ctest-log" && i + 1 < argc) {
            log_path = argv[++i];
        } else if (a == "--timeout" && i + 1 < argc) {
            timeout_s = std::atoi(argv[++i]);
            if (timeout_s <= 0) return usage(argv[0]);
        } else if (a == "--list-args" && i + 1 < argc) {
            list_args.clear();
            for (const std::string& w : split(argv[++i], ' '))
                if (!w.empty()) list_args.push_back(w);
        } else {
            return usage(argv[0]);
        }
    }
    std::ifstream list(list_path);
    if (!list) {
        std::fprintf(stderr, "%s: cannot read %s: %s\n", argv[0], list_path.c_str(),
                     std::strerror(errno));
        return 2;
    }

    std::vector<Exercise> exercises;
    std::string line;
    while (std::getline(list, line)) {
        if (line.empty()) continue;
        auto f = split(line, '\t');
        if (f.size() != 8) {
            std::fprintf(stderr, "%s: malformed line in %s: %s\n", argv[0], list_path.c_str(),
                         line.c_str());
            return 2;
        }
        exercises.push_back({f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], "", false});
    }
    std::map<std::string, bool> logged;
    if (!log_path.empty()) logged = read_ctest_log(log_path);

    // Chapters in order of first appearance, with done/total counts.
    std::vector<std::string> chapters;
    std::map<std::string, std::pair<int, int>> counts;
    const Exercise* next = nullptr;
    int from_log = 0, run_now = 0;
    for (Exercise& e : exercises) {
        if (!counts.count(e.label)) chapters.push_back(e.label);
        auto& [done, total] = counts[e.label];
        if (!e.skip.empty()) continue;
        ++total;

        // What this run said about the exercise: its tests are named
        // "<case> (<label> <name>)".
        const std::string suffix = " (" + e.label + " " + e.name + ")";
        std::set<std::string> passed;
        bool failed = false;
        for (const auto& [test, ok] : logged) {
            if (test.size() <= suffix.size() ||
                test.compare(test.size() - suffix.size(), suffix.size(), suffix) != 0)
                continue;
            if (ok)
                passed.insert(test.substr(0, test.size() - suffix.size()));
            else
                failed = true;
        }
        if (failed) {
            e.outcome = "tests fail";
            e.from_log = true;
        } else if (!passed.empty()) {
            // Done if this run covered every case the executable has.
            Run listing = run(e.exe, list_args, 10);
            bool all = listing.exited;
            int cases = 0;
            for (const std::string& name : split(listing.stdout_, '\n')) {
                if (name.empty()) continue;
                ++cases;
                if (!passed.count(name)) all = false;
            }
            if (all && cases > 0) e.from_log = true;
        }
        if (!e.from_log) {
            Run r = run(e.exe, {}, timeout_s);
            e.outcome = !r.error.empty() ? r.error : r.status == 0 ? "" : "tests fail";
            ++run_now;
        } else {
            ++from_log;
        }
        if (e.outcome.empty())
            ++done;
        else if (!next)
            next = &e;
    }

    std::printf("\nExercise progress (%d from this test run, %d run just now):\n\n", from_log,
                run_now);
    for (const std::string& ch : chapters) {
        auto [done, total] = counts[ch];
        std::printf("  %s %s %d/%d\n", ch.c_str(), bar(done, total).c_str(), done, total);
        for (const Exercise& e : exercises) {
            if (e.label != ch) continue;
            const char* mark = !e.skip.empty() ? "[-]" : e.outcome.empty() ? "[x]" : "[ ]";
            std::string note = !e.skip.empty() ? "  (skipped: " + e.skip + ")"
                               : e.outcome.empty() || e.outcome == "tests fail"
                                   ? ""
                                   : "  (" + e.outcome + ")";
            std::printf("       %s %-16s %s%s\n", mark, e.name.c_str(), e.title.c_str(),
                        note.c_str());
        }
    }

    int all_done = 0, all_total = 0;
    for (const auto& [label, c] : counts) {
        all_done += c.first;
        all_total += c.second;
    }
    std::printf("\n  all  %s %d/%d\n", bar(all_done, all_total).c_str(), all_done, all_total);

    if (!next) {
        std::printf("\nEvery exercise is done. Well played.\n");
        std::fflush(stdout);
        return 0;
    }
    std::string header = next->stub.substr(0, next->stub.size() - 4) + ".hpp";
    std::printf("\nNext: %s %s - %s\n", next->label.c_str(), next->name.c_str(),
                next->title.c_str());
    std::printf("  read:  %s\n", header.c_str());
    std::printf("  edit:  %s (the // TODO: says what to do)\n", next->stub.c_str());
    std::printf("  grade: ctest --preset exercises -R \"%s %s\"\n", next->label.c_str(),
                next->name.c_str());
    std::printf("  hint:\n%s\n", wrap(next->hint, "    ").c_str());
    std::fflush(stdout);
    return report ? 0 : 1;
}
