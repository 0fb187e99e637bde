// trace_capture: the strace transcripts the book quotes, from real runs.
//
//   trace_capture SERVER_LIST OUT_DIR
//
// For every server in SERVER_LIST (the servers.txt CMake writes), run it as
//
//   strace -s 64 -o RAW SERVER --port 0
//
// send two short messages from one client, wait for each echo (TCP: then
// close the connection and wait for the server to close its end), stop the
// server with SIGTERM, and write OUT_DIR/NN-PROGRAM.txt. The file starts with
// one comment line saying what was run; the start-up calls of the dynamic
// loader and libc are left out: the transcript begins at the program's first
// call that creates a descriptor (pipe2, socket, ...).
//
// Ports, pids and addresses change from run to run. When a new capture
// differs from the file already there only in such numbers, the file is left
// alone, so rebuilding the book does not rewrite every trace.
//
// If strace cannot run here (not installed, ptrace denied) it says so and
// leaves the traces as they are; that is not an error.
#include "harness.hpp"
#include "strace.hpp"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;
using namespace ioladder::test;
using namespace std::chrono_literals;

namespace {

const char* const kMessages[] = {"ping 1\n", "ping 2\n"};

// The calls that mark the end of the loader's and libc's start-up: the first
// descriptor the program itself makes.
bool program_starts_here(const std::string& line) {
    for (const char* call :
         {"pipe(", "pipe2(", "socket(", "eventfd2(", "signalfd4(", "epoll_create(",
          "epoll_create1(", "timerfd_create(", "io_uring_setup("})
        if (line.rfind(call, 0) == 0) return true;
    return false;
}

std::vector<std::string> read_lines(const fs::path& p) {
    std::ifstream in(p);
    std::vector<std::string> lines;
    for (std::string l; std::getline(in, l);)
        lines.push_back(l);
    return lines;
}

// The line with the numbers that change from run to run replaced by '#':
// addresses (0x...), ports (htons(N) and "127.0.0.1:N") and pids (si_pid=N).
// Everything else, descriptor numbers and sizes included, must match.
std::string mask_run_numbers(const std::string& line) {
    std::string out;
    auto ends_with = [&](std::string_view s) {
        return out.size() >= s.size() && out.compare(out.size() - s.size(), s.size(), s) == 0;
    };
    for (size_t i = 0; i < line.size();) {
        bool digit = std::isdigit(static_cast<unsigned char>(line[i]));
        if (digit && line.compare(i, 2, "0x") == 0) {
            i += 2;
            while (i < line.size() && std::isxdigit(static_cast<unsigned char>(line[i])))
                ++i;
            out += '#';
        } else if (digit && (ends_with("htons(") || ends_with("si_pid=") || ends_with("1:"))) {
            while (i < line.size() && std::isdigit(static_cast<unsigned char>(line[i])))
                ++i;
            out += '#';
        } else if (digit) {
            while (i < line.size() && std::isdigit(static_cast<unsigned char>(line[i])))
                out += line[i++];
        } else {
            out += line[i++];
        }
    }
    return out;
}

bool same_but_numbers(const std::vector<std::string>& a, const std::vector<std::string>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (mask_run_numbers(a[i]) != mask_run_numbers(b[i])) return false;
    return true;
}

void exchange(const ServerInfo& s, ServerProcess& proc) {
    if (s.proto == "udp") {
        UdpClient client(proc.port());
        for (const char* msg : kMessages) {
            client.send(msg);
            auto got = client.recv(5s);
            if (!got || *got != msg)
                throw std::runtime_error("no echo of '" + std::string(msg, 6) + "'");
        }
        return;
    }
    int before = proc.fd_count();
    TcpClient client(proc.port());
    for (const char* msg : kMessages) {
        client.send_all(msg);
        std::string got = client.recv_exact(std::string_view(msg).size(), 5s);
        if (got != msg) throw std::runtime_error("no echo of '" + std::string(msg, 6) + "'");
    }
    client.close();
    // Let the server see the close and close its end, so the trace shows it.
    if (!wait_until([&] { return proc.fd_count() == before; }, 5s))
        throw std::runtime_error("the server did not close the connection after the client did");
}

// Returns "written", "unchanged" or throws.
std::string capture(const ServerInfo& s, const fs::path& out_dir) {
    const std::string raw = temp_path("trace_capture");
    StartOptions opt = strace_options(raw);
    // No -f: these servers are single-threaded, and without it strace does
    // not put a pid in front of every line.
    opt.wrapper = {"strace", "-s", "64", "-o", raw};
    int code;
    {
        auto proc = ServerProcess::start(s, opt);
        exchange(s, proc);
        // Let the server go back to waiting, so SIGTERM interrupts a wait in every
        // capture and the transcript has the same shape each time.
        std::this_thread::sleep_for(200ms);
        code = proc.stop();
        if (code != 0)
            throw std::runtime_error("exited with " + std::to_string(code) +
                                     " after SIGTERM; stderr: " + proc.stderr_text());
    }
    std::vector<std::string> lines = read_lines(raw);
    fs::remove(raw);
    size_t start = 0;
    while (start < lines.size() && !program_starts_here(lines[start]))
        ++start;
    if (start == lines.size())
        throw std::runtime_error("the trace has no pipe2() or socket() call");

    std::vector<std::string> out;
    std::string what = s.proto == "udp" ? "two datagrams" : "two messages on one connection";
    out.push_back("# strace -s 64 -o trace " + s.name + " --port 0; " + what +
                  ", then SIGTERM. Start-up calls before the first pipe2()/socket() left out.");
    out.insert(out.end(), lines.begin() + static_cast<long>(start), lines.end());

    std::string chapter_number = s.chapter.size() > 2 ? s.chapter.substr(2) : s.chapter;
    fs::path file = out_dir / (chapter_number + "-" + s.name + ".txt");
    if (fs::exists(file) && same_but_numbers(read_lines(file), out)) return "unchanged";
    std::ofstream f(file, std::ios::trunc);
    for (const auto& l : out)
        f << l << '\n';
    if (!f) throw std::runtime_error("cannot write " + file.string());
    return "written (" + std::to_string(out.size()) + " lines)";
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: trace_capture SERVER_LIST OUT_DIR\n");
        return 2;
    }
    // Descriptors inherited from whoever started us (a build tool, a terminal)
    // would be inherited by the servers too and shift their descriptor numbers;
    // close them so the transcripts match a run from a plain shell.
    close_range(3, ~0U, 0);
    const fs::path out_dir = argv[2];
    Availability strace = strace_available();
    if (!strace.ok) {
        std::printf("trace_capture: strace is not usable here (%s); the traces in %s are left "
                    "as they are\n",
                    strace.reason.c_str(), out_dir.c_str());
        return 0;
    }
    std::vector<ServerInfo> servers;
    try {
        servers = load_server_list(argv[1]);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "trace_capture: %s\n", e.what());
        return 1;
    }
    fs::create_directories(out_dir);
    int failures = 0;
    for (const auto& s : servers) {
        try {
            std::string result = capture(s, out_dir);
            std::printf("trace_capture: %s %s: %s\n", s.chapter.c_str(), s.name.c_str(),
                        result.c_str());
        } catch (const std::exception& e) {
            std::fprintf(stderr, "trace_capture: %s %s: %s\n", s.chapter.c_str(), s.name.c_str(),
                         e.what());
            ++failures;
        }
    }
    return failures ? 1 : 0;
}
