// exercise_progress: how far the learner is, derived from the tests alone.
//
//   exercise_progress <list.tsv> [timeout-seconds [--report]]
//
// The list is written by cmake/Exercises.cmake, one exercise per line in the
// manifest's learning order: label, chapter, name, title, hint, stub path,
// test executable, skip reason (tab-separated). Each test executable is run
// now, with a time limit; an exercise is done when all its tests pass. There
// is no saved state to go stale: edit a stub, rebuild, and the next run says
// so. Prints one bar per chapter and, for the first unfinished exercise, its
// title, file and hint. Exits 0 when every exercise is done, 1 otherwise
// (always 0 with --report).
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

struct Exercise {
    std::string label, chapter, name, title, hint, stub, exe, skip;
    std::string outcome; // "" when done, else why not
};

std::vector<std::string> split_tabs(const std::string& line) {
    std::vector<std::string> fields;
    std::string field;
    std::istringstream in(line);
    while (std::getline(in, field, '\t'))
        fields.push_back(field);
    if (!line.empty() && line.back() == '\t') fields.emplace_back();
    return fields;
}

// Runs `exe` with its output discarded; "" if it exited 0, else what happened.
std::string run_tests(const std::string& exe, int timeout_s) {
    if (access(exe.c_str(), X_OK) != 0) return "not built (" + exe + ")";
    pid_t pid = fork();
    if (pid < 0) return std::string("fork: ") + std::strerror(errno);
    if (pid == 0) {
        setpgid(0, 0); // its own process group, so a timeout kills any children too
        int null = open("/dev/null", O_RDWR);
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
        execl(exe.c_str(), exe.c_str(), static_cast<char*>(nullptr));
        _exit(127);
    }
    setpgid(pid, pid);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    int status = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) break;
        if (r < 0 && errno != EINTR) return std::string("waitpid: ") + std::strerror(errno);
        if (std::chrono::steady_clock::now() > deadline) {
            kill(-pid, SIGKILL);
            waitpid(pid, &status, 0);
            return "timed out after " + std::to_string(timeout_s) + " s (a loop that never ends?)";
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return "";
    if (WIFSIGNALED(status)) return std::string("crashed: ") + strsignal(WTERMSIG(status));
    return "tests fail";
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

} // namespace

int main(int argc, char** argv) {
    // --report: always exit 0 (CTest's post-test command only prints).
    bool report = argc == 4 && std::strcmp(argv[3], "--report") == 0;
    if (argc < 2 || argc > 4 || (argc == 4 && !report)) {
        std::fprintf(stderr, "usage: %s <exercise list.tsv> [timeout seconds [--report]]\n",
                     argv[0]);
        return 2;
    }
    int timeout_s = argc >= 3 ? std::atoi(argv[2]) : 60;
    std::ifstream list(argv[1]);
    if (!list) {
        std::fprintf(stderr, "%s: cannot read %s: %s\n", argv[0], argv[1], std::strerror(errno));
        return 2;
    }

    std::vector<Exercise> exercises;
    std::string line;
    while (std::getline(list, line)) {
        if (line.empty()) continue;
        auto f = split_tabs(line);
        if (f.size() != 8) {
            std::fprintf(stderr, "%s: malformed line in %s: %s\n", argv[0], argv[1], line.c_str());
            return 2;
        }
        exercises.push_back({f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], ""});
    }

    // Chapters in order of first appearance, with done/total counts.
    std::vector<std::string> chapters;
    std::map<std::string, std::pair<int, int>> counts;
    const Exercise* next = nullptr;
    for (Exercise& e : exercises) {
        if (!counts.count(e.label)) chapters.push_back(e.label);
        auto& [done, total] = counts[e.label];
        if (!e.skip.empty()) continue;
        e.outcome = run_tests(e.exe, timeout_s);
        ++total;
        if (e.outcome.empty())
            ++done;
        else if (!next)
            next = &e;
    }

    std::printf("\nExercise progress (each exercise's tests, run just now):\n\n");
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
