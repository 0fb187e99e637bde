// harness.cpp: see harness.hpp.
#include "harness.hpp"
#include "posix_compat.hpp" // chapters/common: pipe2, SOCK_NONBLOCK where missing (macOS)

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <spawn.h>
#include <sstream>
#include <stdexcept>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utility>

extern char** environ;

namespace ioladder::test {

namespace {

using Clock = std::chrono::steady_clock;

// Every failed call becomes an exception naming the call and the errno text.
[[noreturn]] void fail_errno(const std::string& what) {
    throw std::runtime_error(what + ": " + std::strerror(errno));
}

int remaining_ms(Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    return left < 0 ? 0 : static_cast<int>(left);
}

// poll() one descriptor until `events` is reported or the deadline passes.
// Returns the revents (0 on timeout). EINTR: retry with the time left.
short wait_fd(int fd, short events, Clock::time_point deadline) {
    for (;;) {
        pollfd p{fd, events, 0};
        int n = poll(&p, 1, remaining_ms(deadline));
        if (n > 0) return p.revents;
        if (n == 0) return 0;
        if (errno != EINTR) fail_errno("poll");
    }
}

int exit_code_of(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

// waitpid with a deadline: there is no timed waitpid, so poll WNOHANG every
// 2 ms (a pidfd would do, but this reads more plainly and costs nothing here).
// wait4 is waitpid that also fills in the child's resource usage.
std::optional<int> wait_exit(pid_t pid, Clock::time_point deadline, rusage* usage = nullptr) {
    for (;;) {
        int status = 0;
        pid_t r = wait4(pid, &status, WNOHANG, usage);
        if (r == pid) return exit_code_of(status);
        if (r < 0 && errno != EINTR) fail_errno("waitpid " + std::to_string(pid));
        if (Clock::now() >= deadline) return std::nullopt;
        usleep(2000);
    }
}

std::string read_all_from_start(int fd) {
    std::string text;
    char buf[4096];
    off_t off = 0;
    for (;;) {
        ssize_t n = pread(fd, buf, sizeof buf, off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        text.append(buf, static_cast<size_t>(n));
        off += n;
    }
    return text;
}

// An unlinked, close-on-exec temp file: nothing to clean up, and a test that
// crashes leaves no files behind.
int anonymous_temp_file() {
    std::string name = temp_path("stderr") + "XXXXXX";
    int fd = mkostemp(name.data(), O_CLOEXEC);
    if (fd < 0) fail_errno("mkostemp " + name);
    unlink(name.c_str());
    return fd;
}

// posix_spawn rather than fork+exec: the file actions say plainly what the
// child gets on fds 0, 1 and 2, and nothing async-signal-unsafe runs between
// fork and exec. Signal dispositions and the mask are reset so the server does
// not inherit what the test runner did with signals.
// Our environment with `extra` ("NAME=value") added, replacing entries of the
// same name.
std::vector<std::string> environment_with(const std::vector<std::string>& extra) {
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) {
        std::string entry = *e;
        auto eq = entry.find('=');
        if (eq == std::string::npos) continue; // not NAME=value: pass nothing odd on
        std::string name = entry.substr(0, eq + 1);
        bool replaced = false;
        for (auto& x : extra)
            if (x.rfind(name, 0) == 0) replaced = true;
        if (!replaced) env.push_back(entry);
    }
    env.insert(env.end(), extra.begin(), extra.end());
    return env;
}

pid_t spawn(const std::vector<std::string>& argv, int out_fd, int err_fd,
            const std::vector<std::string>& extra_env = {}) {
    std::vector<std::string> env = environment_with(extra_env);
    std::vector<char*> cenv;
    for (auto& e : env)
        cenv.push_back(const_cast<char*>(e.c_str()));
    cenv.push_back(nullptr);
    std::vector<char*> cargv;
    for (auto& a : argv)
        cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
    posix_spawn_file_actions_adddup2(&fa, err_fd, 2);

    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

    pid_t pid = -1;
    int rc = posix_spawnp(&pid, cargv[0], &fa, &attr, cargv.data(), cenv.data());
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        errno = rc;
        fail_errno("posix_spawn " + argv[0]);
    }
    return pid;
}

std::string join(const std::vector<std::string>& words) {
    std::string s;
    for (auto& w : words)
        s += (s.empty() ? "" : " ") + w;
    return s;
}

// The child of `parent` (the process a wrapper such as strace started), read
// from /proc/<parent>/task/*/children. -1 if there is none (yet).
pid_t only_child_of(pid_t parent) {
    std::string dir = "/proc/" + std::to_string(parent) + "/task";
    DIR* d = opendir(dir.c_str());
    if (!d) return -1;
    pid_t child = -1;
    while (dirent* e = readdir(d)) {
        if (e->d_name[0] == '.') continue;
        std::ifstream in(dir + "/" + e->d_name + "/children");
        long pid = 0;
        if (in >> pid) {
            child = static_cast<pid_t>(pid);
            break;
        }
    }
    closedir(d);
    return child;
}

long status_field_kib(pid_t pid, const std::string& field) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
    }
    return -1;
}

// "listening on 127.0.0.1:40123 (tcp)" -> port and protocol. The address may
// be "[::1]:40123", so the port follows the last ':' before " (".
bool parse_listening_line(const std::string& line, uint16_t& port, std::string& proto) {
    const std::string prefix = "listening on ";
    if (line.rfind(prefix, 0) != 0) return false;
    auto paren = line.rfind(" (");
    if (paren == std::string::npos || line.back() != ')') return false;
    proto = line.substr(paren + 2, line.size() - paren - 3);
    auto colon = line.rfind(':', paren);
    if (colon == std::string::npos || colon < prefix.size()) return false;
    std::string digits = line.substr(colon + 1, paren - colon - 1);
    if (digits.empty() || digits.size() > 5 ||
        digits.find_first_not_of("0123456789") != std::string::npos)
        return false;
    unsigned long p = std::stoul(digits);
    if (p == 0 || p > 65535) return false;
    port = static_cast<uint16_t>(p);
    return proto == "tcp" || proto == "udp";
}

sockaddr_in loopback(uint16_t port) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sin;
}

} // namespace

// ---- the server list -------------------------------------------------------

std::vector<ServerInfo> load_server_list(const std::string& file) {
    std::ifstream in(file);
    if (!in) throw std::runtime_error("cannot open server list " + file);
    std::vector<ServerInfo> servers;
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
        ++number;
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        std::istringstream words(line);
        ServerInfo s;
        bool ok = static_cast<bool>(words >> s.chapter >> s.dir >> s.name >> s.proto >> s.path);
        if (ok && s.path.rfind("via=", 0) == 0) {
            s.via = s.path.substr(4);
            ok = static_cast<bool>(words >> s.path);
        }
        if (!ok || (s.proto != "tcp" && s.proto != "udp"))
            throw std::runtime_error(file + ":" + std::to_string(number) +
                                     ": expected 'chapter dir name tcp|udp path [args...]', got '" +
                                     line + "'");
        for (std::string arg; words >> arg;)
            s.args.push_back(arg);
        servers.push_back(std::move(s));
    }
    return servers;
}

std::string server_list_path() {
    const char* env = std::getenv("IOLADDER_SERVER_LIST");
    return env && *env ? env : IOLADDER_SERVER_LIST;
}

ServerInfo find_server(const std::string& name) {
    const std::string file = server_list_path();
    for (auto& s : load_server_list(file))
        if (s.name == name) return s;
    throw std::runtime_error("no server named '" + name + "' in " + file);
}

Availability io_uring_available() {
    static const Availability cached = [] {
        if (const char* no = std::getenv("IOLADDER_NO_URING"); no && *no && *no != '0')
            return Availability{false, "needs io_uring: IOLADDER_NO_URING is set"};
        io_uring_params p{};
        int fd = static_cast<int>(syscall(__NR_io_uring_setup, 4, &p));
        if (fd < 0)
            return Availability{false, std::string("needs io_uring: io_uring_setup: ") +
                                           std::strerror(errno)};
        close(fd);
        return Availability{true, ""};
    }();
    return cached;
}

Availability server_available(const ServerInfo& server) {
    if (server.name.find("uring") != std::string::npos) return io_uring_available();
    return Availability{true, ""};
}

std::string program_path(const std::string& dir, const std::string& name) {
    // The build folder is where CMake wrote the server list.
    namespace fs = std::filesystem;
    fs::path p = fs::path(IOLADDER_SERVER_LIST).parent_path() / "chapters" / dir / name;
    if (!fs::exists(p))
        throw std::runtime_error("no program " + p.string() + " (build the " + name + " target)");
    return p.string();
}

std::vector<ServerInfo> servers_of_chapter(const std::string& chapter) {
    std::vector<ServerInfo> out;
    for (auto& s : load_server_list(server_list_path()))
        if (s.chapter == chapter) out.push_back(s);
    return out;
}

// ---- ServerProcess ---------------------------------------------------------

ServerProcess ServerProcess::start(const ServerInfo& server, StartOptions options) {
    options.args.insert(options.args.begin(), server.args.begin(), server.args.end());
    return start(server.path, options);
}

ServerProcess ServerProcess::start(const std::string& path, const StartOptions& options) {
    std::vector<std::string> argv = options.wrapper;
    argv.push_back(path);
    argv.insert(argv.end(), options.args.begin(), options.args.end());
    argv.push_back("--port");
    argv.push_back("0");

    ServerProcess p;
    int out[2];
    if (pipe2(out, O_CLOEXEC) < 0) fail_errno("pipe2");
    p.stdout_fd_ = out[0];
    p.stderr_fd_ = anonymous_temp_file();
    try {
        p.child_pid_ = spawn(argv, out[1], p.stderr_fd_, options.env);
    } catch (...) {
        ::close(out[1]);
        throw;
    }
    ::close(out[1]); // only the child writes; EOF then means it exited
    p.server_pid_ = p.child_pid_;

    const std::string command = join(argv);
    auto deadline = Clock::now() + options.ready_timeout;
    std::string text;
    while (text.find('\n') == std::string::npos) {
        short ev = wait_fd(p.stdout_fd_, POLLIN, deadline);
        if (ev == 0)
            throw std::runtime_error(command + ": no 'listening on' line within " +
                                     std::to_string(options.ready_timeout.count()) +
                                     " ms; stdout so far '" + text +
                                     "'; stderr: " + p.stderr_text());
        char buf[512];
        ssize_t n = read(p.stdout_fd_, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail_errno("read server stdout");
        if (n == 0) {
            // EOF before the line: the server (or the wrapper) exited.
            auto code = wait_exit(p.child_pid_, Clock::now() + std::chrono::seconds(2));
            if (code) {
                p.reaped_ = true;
                p.exit_code_ = *code;
            }
            throw std::runtime_error(
                command + ": exited (code " + (code ? std::to_string(*code) : "unknown") +
                ") before printing 'listening on'; stderr: " + p.stderr_text());
        }
        text.append(buf, static_cast<size_t>(n));
    }
    p.listening_line_ = text.substr(0, text.find('\n'));
    if (!parse_listening_line(p.listening_line_, p.port_, p.proto_))
        throw std::runtime_error(command + ": expected 'listening on HOST:PORT (tcp|udp)', got '" +
                                 p.listening_line_ + "'; stderr: " + p.stderr_text());

    if (!options.wrapper.empty()) {
        // The server printed, so the wrapper has already forked and exec'd it.
        pid_t child = -1;
        wait_until([&] { return (child = only_child_of(p.child_pid_)) > 0; }, milliseconds(2000));
        if (child <= 0)
            throw std::runtime_error(command + ": cannot find the wrapped server's pid under " +
                                     std::to_string(p.child_pid_));
        p.server_pid_ = child;
    }
    return p;
}

ServerProcess::ServerProcess(ServerProcess&& o) noexcept {
    *this = std::move(o);
}

ServerProcess& ServerProcess::operator=(ServerProcess&& o) noexcept {
    if (this != &o) {
        kill_and_reap();
        child_pid_ = std::exchange(o.child_pid_, -1);
        server_pid_ = std::exchange(o.server_pid_, -1);
        stdout_fd_ = std::exchange(o.stdout_fd_, -1);
        stderr_fd_ = std::exchange(o.stderr_fd_, -1);
        reaped_ = o.reaped_;
        exit_code_ = o.exit_code_;
        cpu_seconds_ = o.cpu_seconds_;
        port_ = o.port_;
        proto_ = std::move(o.proto_);
        listening_line_ = std::move(o.listening_line_);
    }
    return *this;
}

ServerProcess::~ServerProcess() {
    kill_and_reap();
}

void ServerProcess::kill_and_reap() noexcept {
    if (child_pid_ > 0 && !reaped_) {
        if (server_pid_ != child_pid_) ::kill(server_pid_, SIGKILL);
        ::kill(child_pid_, SIGKILL);
        int status = 0;
        while (waitpid(child_pid_, &status, 0) < 0 && errno == EINTR) {
        }
        reaped_ = true;
    }
    if (stdout_fd_ >= 0) ::close(stdout_fd_);
    if (stderr_fd_ >= 0) ::close(stderr_fd_);
    stdout_fd_ = stderr_fd_ = -1;
    child_pid_ = server_pid_ = -1;
}

int ServerProcess::stop(milliseconds timeout) {
    if (child_pid_ <= 0) throw std::runtime_error("stop(): no server");
    if (reaped_) return exit_code_;
    // SIGTERM goes to the server itself; a wrapper such as strace then exits
    // with the server's status (strace re-raises a fatal signal on itself).
    ::kill(server_pid_, SIGTERM);
    rusage usage{};
    auto code = wait_exit(child_pid_, Clock::now() + timeout, &usage);
    if (code) {
        auto s = [](timeval tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; };
        cpu_seconds_ = s(usage.ru_utime) + s(usage.ru_stime);
    } else {
        if (server_pid_ != child_pid_) ::kill(server_pid_, SIGKILL);
        ::kill(child_pid_, SIGKILL);
        wait_exit(child_pid_, Clock::now() + std::chrono::seconds(5));
        code = -1;
    }
    reaped_ = true;
    exit_code_ = *code;
    return exit_code_;
}

bool ServerProcess::running() const {
    if (child_pid_ <= 0 || reaped_) return false;
    int status = 0;
    pid_t r = waitpid(child_pid_, &status, WNOHANG);
    if (r == child_pid_) {
        // Record the status so stop() still reports it.
        auto* self = const_cast<ServerProcess*>(this);
        self->reaped_ = true;
        self->exit_code_ = exit_code_of(status);
        return false;
    }
    if (server_pid_ == child_pid_) return true;
    // Wrapped: the server may have died while the wrapper still runs.
    std::ifstream stat("/proc/" + std::to_string(server_pid_) + "/stat");
    std::string pid, comm, state;
    if (!(stat >> pid >> comm >> state)) return false;
    return state != "Z" && state != "X";
}

std::string ServerProcess::stderr_text() const {
    return stderr_fd_ >= 0 ? read_all_from_start(stderr_fd_) : std::string();
}

long ServerProcess::rss_kib() const {
    return status_field_kib(server_pid_, "VmRSS");
}
long ServerProcess::peak_rss_kib() const {
    return status_field_kib(server_pid_, "VmHWM");
}

int ServerProcess::fd_count() const {
    std::string dir = "/proc/" + std::to_string(server_pid_) + "/fd";
    DIR* d = opendir(dir.c_str());
    if (!d) return -1;
    int n = 0;
    while (dirent* e = readdir(d))
        if (e->d_name[0] != '.') ++n;
    closedir(d);
    return n;
}

// ---- run_program -----------------------------------------------------------

RunResult run_program(const std::vector<std::string>& argv, milliseconds timeout) {
    if (argv.empty()) throw std::invalid_argument("run_program: empty argv");
    int out_fd = anonymous_temp_file();
    int err_fd = anonymous_temp_file();
    RunResult r;
    try {
        pid_t pid = spawn(argv, out_fd, err_fd);
        auto code = wait_exit(pid, Clock::now() + timeout);
        if (!code) {
            ::kill(pid, SIGKILL);
            wait_exit(pid, Clock::now() + std::chrono::seconds(5));
        }
        r.exit_code = code.value_or(-1);
        r.out = read_all_from_start(out_fd);
        r.err = read_all_from_start(err_fd);
    } catch (...) {
        ::close(out_fd);
        ::close(err_fd);
        throw;
    }
    ::close(out_fd);
    ::close(err_fd);
    return r;
}

// ---- TcpClient -------------------------------------------------------------

TcpClient::TcpClient(uint16_t port, milliseconds connect_timeout, TcpOptions options) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) fail_errno("socket");
    // Before connect: the receive buffer decides the window scale in the SYN.
    if (options.rcvbuf > 0)
        setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &options.rcvbuf, sizeof options.rcvbuf);
    if (options.sndbuf > 0)
        setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &options.sndbuf, sizeof options.sndbuf);
    if (options.maxseg > 0)
        setsockopt(fd_, IPPROTO_TCP, TCP_MAXSEG, &options.maxseg, sizeof options.maxseg);
    sockaddr_in sin = loopback(port);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&sin), sizeof sin) < 0) {
        if (errno != EINPROGRESS) {
            int e = errno;
            ::close(fd_);
            errno = e;
            fail_errno("connect 127.0.0.1:" + std::to_string(port));
        }
        // Non-blocking connect: writable means done; SO_ERROR says how.
        short ev = wait_fd(fd_, POLLOUT, Clock::now() + connect_timeout);
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
        if (ev == 0 || err != 0) {
            ::close(fd_);
            fd_ = -1;
            errno = ev == 0 ? ETIMEDOUT : err;
            fail_errno("connect 127.0.0.1:" + std::to_string(port));
        }
    }
}

TcpClient::TcpClient(TcpClient&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}

TcpClient& TcpClient::operator=(TcpClient&& o) noexcept {
    if (this != &o) {
        close();
        fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
}

TcpClient::~TcpClient() {
    close();
}

void TcpClient::close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

size_t TcpClient::send_some(std::string_view data) {
    size_t sent = 0;
    while (sent < data.size()) {
        // MSG_NOSIGNAL: a server that reset us gives EPIPE, not a dead test.
        ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
        if (n > 0) {
            sent += static_cast<size_t>(n);
            continue;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        fail_errno("send");
    }
    return sent;
}

void TcpClient::send_all(std::string_view data, milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    size_t sent = 0;
    while (sent < data.size()) {
        sent += send_some(data.substr(sent));
        if (sent < data.size() && wait_fd(fd_, POLLOUT, deadline) == 0)
            throw std::runtime_error("send_all: timed out after " + std::to_string(sent) + " of " +
                                     std::to_string(data.size()) + " bytes");
    }
}

std::string TcpClient::recv_some(bool& eof) {
    std::string got;
    char buf[65536];
    for (;;) {
        ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n > 0) {
            got.append(buf, static_cast<size_t>(n));
            continue;
        }
        if (n == 0) {
            eof = true;
            return got;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return got;
        fail_errno("recv");
    }
}

std::string TcpClient::recv_exact(size_t n, milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    std::string got;
    char buf[65536];
    while (got.size() < n) {
        ssize_t r = ::recv(fd_, buf, std::min(sizeof buf, n - got.size()), 0);
        if (r > 0) {
            got.append(buf, static_cast<size_t>(r));
            continue;
        }
        if (r == 0)
            throw std::runtime_error("recv_exact: peer closed after " + std::to_string(got.size()) +
                                     " of " + std::to_string(n) + " bytes");
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) fail_errno("recv");
        if (wait_fd(fd_, POLLIN, deadline) == 0)
            throw std::runtime_error("recv_exact: timed out after " + std::to_string(got.size()) +
                                     " of " + std::to_string(n) + " bytes");
    }
    return got;
}

std::string TcpClient::recv_until_eof(milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    std::string got;
    for (;;) {
        bool eof = false;
        got += recv_some(eof);
        if (eof) return got;
        if (wait_fd(fd_, POLLIN, deadline) == 0)
            throw std::runtime_error("recv_until_eof: no EOF within " +
                                     std::to_string(timeout.count()) + " ms (got " +
                                     std::to_string(got.size()) + " bytes)");
    }
}

void TcpClient::shutdown_write() {
    if (::shutdown(fd_, SHUT_WR) < 0) fail_errno("shutdown SHUT_WR");
}

void TcpClient::reset_abruptly() {
    linger l{1, 0};
    if (setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l) < 0) fail_errno("SO_LINGER");
    close();
}

// ---- UdpClient -------------------------------------------------------------

UdpClient::UdpClient(uint16_t port) {
    fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) fail_errno("socket");
    // A large receive buffer, so a burst of echoes is not dropped by *our*
    // socket: the test must see what the server sent.
    int size = 4 << 20;
    setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    // connect(): send() needs no address, and only the server's datagrams
    // are delivered to us.
    sockaddr_in sin = loopback(port);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&sin), sizeof sin) < 0) {
        int e = errno;
        ::close(fd_);
        errno = e;
        fail_errno("connect udp 127.0.0.1:" + std::to_string(port));
    }
}

UdpClient::UdpClient(UdpClient&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}

UdpClient& UdpClient::operator=(UdpClient&& o) noexcept {
    if (this != &o) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
}

UdpClient::~UdpClient() {
    if (fd_ >= 0) ::close(fd_);
}

void UdpClient::send(std::string_view datagram) {
    for (;;) {
        ssize_t n = ::send(fd_, datagram.data(), datagram.size(), 0);
        if (n >= 0) return;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            wait_fd(fd_, POLLOUT, Clock::now() + std::chrono::seconds(1));
            continue;
        }
        fail_errno("send udp");
    }
}

std::optional<std::string> UdpClient::recv(milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    std::string buf(65536, '\0');
    for (;;) {
        // MSG_TRUNC makes recv return the datagram's real length.
        ssize_t n = ::recv(fd_, buf.data(), buf.size(), MSG_TRUNC);
        if (n >= 0) {
            if (static_cast<size_t>(n) > buf.size())
                throw std::runtime_error("udp recv: datagram of " + std::to_string(n) +
                                         " bytes does not fit");
            buf.resize(static_cast<size_t>(n));
            return buf;
        }
        if (errno == EINTR) continue;
        // ECONNREFUSED: an earlier datagram got ICMP port unreachable (server
        // gone). Report it: a test that expects echoes must not read it as "none".
        if (errno != EAGAIN && errno != EWOULDBLOCK) fail_errno("recv udp");
        if (wait_fd(fd_, POLLIN, deadline) == 0) return std::nullopt;
    }
}

// ---- small helpers ---------------------------------------------------------

rlim_t raise_fd_limit(rlim_t want) {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) fail_errno("getrlimit RLIMIT_NOFILE");
    if (rl.rlim_cur < want) {
        rl.rlim_cur = std::min(want, rl.rlim_max);
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0) fail_errno("setrlimit RLIMIT_NOFILE");
    }
    getrlimit(RLIMIT_NOFILE, &rl);
    return rl.rlim_cur;
}

Availability proc_available() {
    DIR* d = opendir("/proc/self/fd");
    if (!d) return {false, "needs Linux's /proc/<pid>/fd and status (not on this system)"};
    closedir(d);
    return {true, ""};
}

Availability fd_limit_at_least(rlim_t need) {
    rlim_t got = raise_fd_limit(need);
    if (got >= need) return {true, ""};
    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);
    return {false, "needs " + std::to_string(need) + " file descriptors, but RLIMIT_NOFILE is " +
                       std::to_string(rl.rlim_cur) + " (hard limit " + std::to_string(rl.rlim_max) +
                       "; raise it with ulimit -Hn)"};
}

std::string pattern_bytes(uint64_t seed, size_t size) {
    // splitmix64's finaliser is a bijection, so distinct (seed, block) inputs
    // give distinct 8-byte blocks: a misplaced block cannot match by chance.
    std::string out(size, '\0');
    for (size_t i = 0; i < size; i += 8) {
        uint64_t z = (seed << 40) + i / 8 + 0x9E3779B97F4A7C15ull;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        std::memcpy(out.data() + i, &z, std::min<size_t>(8, size - i));
    }
    return out;
}

std::string describe_mismatch(std::string_view want, std::string_view got) {
    size_t i = 0;
    while (i < want.size() && i < got.size() && want[i] == got[i])
        ++i;
    if (i == want.size() && i == got.size()) return "identical";
    return "expected " + std::to_string(want.size()) + " bytes, got " + std::to_string(got.size()) +
           "; first difference at byte " + std::to_string(i);
}

std::string temp_path(const std::string& stem) {
    static int counter = 0;
    const char* dir = std::getenv("TMPDIR");
    return std::string(dir && *dir ? dir : "/tmp") + "/ioladder-" + stem + "-" +
           std::to_string(getpid()) + "-" + std::to_string(++counter) + "-";
}

// GCC defines __SANITIZE_ADDRESS__/__SANITIZE_THREAD__; clang answers
// __has_feature(address_sanitizer/thread_sanitizer).
#if defined(__has_feature)
#define IOLADDER_HAS_FEATURE(x) __has_feature(x)
#else
#define IOLADDER_HAS_FEATURE(x) 0
#endif

bool built_with_asan() {
#if defined(__SANITIZE_ADDRESS__) || IOLADDER_HAS_FEATURE(address_sanitizer)
    return true;
#else
    return false;
#endif
}

bool built_with_tsan() {
#if defined(__SANITIZE_THREAD__) || IOLADDER_HAS_FEATURE(thread_sanitizer)
    return true;
#else
    return false;
#endif
}

} // namespace ioladder::test
