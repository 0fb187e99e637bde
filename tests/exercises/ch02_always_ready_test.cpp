// Grades the ch02 always_ready exercise
// (chapters/02-epoll-level/exercises/always_ready.hpp): regular files and a
// directory beside sockets in one epoll loop.
#include "always_ready.hpp"
#include "catch_compat.hpp"
#include "ch02_epoll_support.hpp"
#include "faults.hpp"

#include <cstdlib>
#include <vector>

using namespace ioladder::test;
using ioladder::ch02::Watcher;

namespace {

// A regular file of its own, already unlinked.
Fd temp_file(int flags = O_RDONLY) {
    char path[] = "/tmp/ioladder_always_readyXXXXXX";
    Fd f(::mkstemp(path));
    if (f.get() < 0) fail_errno("mkstemp");
    ::unlink(path);
    if (::write(f.get(), "line one\n", 9) != 9) fail_errno("write");
    if (flags != O_RDONLY) return f;
    Fd ro(::open(("/proc/self/fd/" + std::to_string(f.get())).c_str(), O_RDONLY | O_CLOEXEC));
    if (ro.get() < 0) fail_errno("reopen");
    return ro;
}

struct Result {
    int n;
    std::vector<epoll_event> events;
    long ms;
    uint32_t for_fd(int fd) const {
        uint32_t bits = 0;
        for (const epoll_event& e : events)
            if (e.data.fd == fd) bits |= e.events;
        return bits;
    }
};

Result wait(Watcher& w, int timeout_ms, std::size_t room = 16) {
    STEP("Watcher::wait with a timeout of " + std::to_string(timeout_ms) + " ms");
    std::vector<epoll_event> out(room);
    auto start = Clock::now();
    int n = w.wait(out, timeout_ms);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    if (n > 0)
        out.resize(static_cast<std::size_t>(n));
    else
        out.clear();
    return {n, out, static_cast<long>(ms.count())};
}

} // namespace

TEST_CASE("a socket goes to the kernel's interest list and is reported when ready",
          "[exercise][ch02]") {
    Fd ep = new_epoll();
    auto [a, peer] = small_socketpair();
    Watcher w(ep.get());
    REQUIRE(w.add(a.get(), EPOLLIN) == 0);
    auto list = interest_list(ep.get());
    REQUIRE(list.count(a.get()) == 1);
    CHECK(list[a.get()].data == static_cast<uint64_t>(a.get()));
    CHECK(wait(w, 0).n == 0);
    REQUIRE(::write(peer.get(), "x", 1) == 1);
    Result r = wait(w, 2000);
    CHECK(r.n == 1);
    CHECK(r.for_fd(a.get()) == EPOLLIN);
}

TEST_CASE("a regular file is accepted and reported ready on every wait", "[exercise][ch02]") {
    Fd ep = new_epoll();
    Fd file = temp_file();
    Watcher w(ep.get());
    REQUIRE(w.add(file.get(), EPOLLIN) == 0); // epoll_ctl said EPERM
    CHECK(interest_list(ep.get()).empty());
    for (int i = 0; i < 3; ++i) {
        Result r = wait(w, 2000);
        CHECK(r.n == 1);
        CHECK(r.for_fd(file.get()) == EPOLLIN);
    }
}

TEST_CASE("a directory is accepted like a file", "[exercise][ch02]") {
    Fd ep = new_epoll();
    Fd dir(::open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    REQUIRE(dir.get() >= 0);
    Watcher w(ep.get());
    REQUIRE(w.add(dir.get(), EPOLLIN) == 0);
    CHECK(wait(w, 2000).for_fd(dir.get()) == EPOLLIN);
}

TEST_CASE("a file is reported with the events it was added for", "[exercise][ch02]") {
    Fd ep = new_epoll();
    Fd out_file = temp_file(O_WRONLY); // as for `prog > out.txt`
    Fd in_file = temp_file();
    Watcher w(ep.get());
    REQUIRE(w.add(out_file.get(), EPOLLOUT) == 0);
    REQUIRE(w.add(in_file.get(), EPOLLIN | EPOLLOUT) == 0);
    Result r = wait(w, 2000);
    CHECK(r.n == 2);
    CHECK(r.for_fd(out_file.get()) == EPOLLOUT);
    CHECK(r.for_fd(in_file.get()) == (EPOLLIN | EPOLLOUT));
}

TEST_CASE("a wait does not sleep while a file is ready, and still reports the sockets",
          "[exercise][ch02]") {
    Fd ep = new_epoll();
    Fd file = temp_file();
    auto [quiet, quiet_peer] = small_socketpair();
    auto [busy, busy_peer] = small_socketpair();
    Watcher w(ep.get());
    REQUIRE(w.add(quiet.get(), EPOLLIN) == 0);
    REQUIRE(w.add(file.get(), EPOLLIN) == 0);
    REQUIRE(w.add(busy.get(), EPOLLIN) == 0);
    Result r = wait(w, 3000);
    INFO("the wait took " << r.ms << " ms with a file ready");
    CHECK(r.n == 1);
    CHECK(r.ms < 1500);
    REQUIRE(::write(busy_peer.get(), "x", 1) == 1);
    r = wait(w, 3000);
    CHECK(r.n == 2);
    CHECK(r.for_fd(file.get()) == EPOLLIN);
    CHECK(r.for_fd(busy.get()) == EPOLLIN);
    CHECK(r.for_fd(quiet.get()) == 0u);
}

TEST_CASE("the result never holds more reports than it has room for", "[exercise][ch02]") {
    Fd ep = new_epoll();
    Fd file = temp_file();
    std::vector<std::pair<Fd, Fd>> sockets;
    Watcher w(ep.get());
    REQUIRE(w.add(file.get(), EPOLLIN) == 0);
    for (int i = 0; i < 10; ++i) {
        sockets.push_back(small_socketpair());
        REQUIRE(w.add(sockets.back().first.get(), EPOLLOUT) == 0); // always writable
    }
    Result r = wait(w, 2000, 4);
    CHECK(r.n == 4);
    CHECK(r.for_fd(file.get()) == EPOLLIN); // the side is always in
}

TEST_CASE("removing a file or a socket stops its reports", "[exercise][ch02]") {
    Fd ep = new_epoll();
    Fd file = temp_file();
    auto [a, peer] = small_socketpair();
    Watcher w(ep.get());
    REQUIRE(w.add(file.get(), EPOLLIN) == 0);
    REQUIRE(w.add(a.get(), EPOLLIN) == 0);
    REQUIRE(::write(peer.get(), "x", 1) == 1);
    CHECK(w.remove(file.get()) == 0);
    Result r = wait(w, 2000);
    CHECK(r.n == 1);
    CHECK(r.for_fd(a.get()) == EPOLLIN);
    CHECK(w.remove(a.get()) == 0);
    CHECK(interest_list(ep.get()).empty());
    r = wait(w, 100); // nothing left: this one sleeps, and times out
    CHECK(r.n == 0);
    CHECK(r.ms >= 50);
    CHECK(w.remove(a.get()) == ENOENT);
    r = wait(w, 100); // and the file is gone from the side for good
    CHECK(r.n == 0);
}

TEST_CASE("an error other than EPERM is returned and nothing is watched", "[exercise][ch02]") {
    Fd ep = new_epoll();
    Watcher w(ep.get());
    auto [a, peer] = small_socketpair();
    const int closed = a.get();
    a.reset();
    CHECK(w.add(closed, EPOLLIN) == EBADF);
    CHECK(w.add(ep.get(), EPOLLIN) == EINVAL); // an epoll instance cannot watch itself
    Result r = wait(w, 50);
    CHECK(r.n == 0);
}

TEST_CASE("an interrupted wait still reports the files", "[exercise][ch02]") {
    FaultScope faults;
    Fd ep = new_epoll();
    Fd file = temp_file();
    Watcher w(ep.get());
    REQUIRE(w.add(file.get(), EPOLLIN) == 0);
    target(ep.get());
    inject_errors(Call::epoll_wait, {EINTR});
    Result r = wait(w, 2000);
    CHECK(r.n == 1);
    CHECK(r.for_fd(file.get()) == EPOLLIN);
    CHECK(calls(Call::epoll_wait) == 1);
}
