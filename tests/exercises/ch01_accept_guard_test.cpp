// Grades the ch01 accept_guard exercise (chapters/01-select/exercises/accept_guard.hpp).
// Instead of opening a thousand descriptors to reach FD_SETSIZE, each test
// passes a limit just above or at the descriptor number the next accept gets.
#include "accept_guard.hpp"
#include "catch_compat.hpp"
#include "faults.hpp"
#include "support.hpp"

#include <sys/resource.h>
#include <vector>

using namespace ioladder::test;
using ioladder::ch01::Accept;
using ioladder::ch01::accept_guarded;
using ioladder::ch01::AcceptResult;

namespace {

// Waits until the connection is in the listener's backlog.
void wait_pending(int listener) {
    REQUIRE((wait_for(listener, POLLIN) & POLLIN) != 0);
}

// True when the peer of `client` has closed or reset the connection.
bool sees_closed(int client) {
    if ((wait_for(client, POLLIN) & (POLLIN | POLLHUP | POLLERR)) == 0) return false;
    char c;
    ssize_t n = ::recv(client, &c, 1, MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

} // namespace

TEST_CASE("a waiting connection is accepted non-blocking and close-on-exec", "[exercise][ch01]") {
    FaultScope faults;
    Fd listener = tcp_listener();
    Fd client = tcp_connect(listener.get());
    wait_pending(listener.get());

    AcceptResult r = accept_guarded(listener.get(), FD_SETSIZE);
    REQUIRE(r.status == Accept::accepted);
    Fd conn(r.fd);
    CHECK(r.error == 0);
    CHECK((::fcntl(conn.get(), F_GETFL) & O_NONBLOCK) != 0);
    CHECK((::fcntl(conn.get(), F_GETFD) & FD_CLOEXEC) != 0);
    // It is the client's connection.
    REQUIRE(::send(client.get(), "hi", 2, 0) == 2);
    REQUIRE(wait_for(conn.get(), POLLIN) != 0);
    char buf[4];
    CHECK(::recv(conn.get(), buf, sizeof buf, 0) == 2);
}

TEST_CASE("nothing waiting is reported as none, not as an error", "[exercise][ch01]") {
    FaultScope faults;
    Fd listener = tcp_listener();
    AcceptResult r = accept_guarded(listener.get(), FD_SETSIZE);
    CHECK(r.status == Accept::none);
    CHECK(r.fd == -1);
    CHECK(r.error == 0);
}

TEST_CASE("a descriptor just below the limit is accepted", "[exercise][ch01]") {
    FaultScope faults;
    Fd listener = tcp_listener();
    Fd client = tcp_connect(listener.get());
    wait_pending(listener.get());
    int expected = next_fd();

    AcceptResult r = accept_guarded(listener.get(), expected + 1);
    REQUIRE(r.status == Accept::accepted);
    Fd conn(r.fd);
    CHECK(r.fd == expected);
    CHECK(is_open(r.fd));
}

TEST_CASE("a descriptor at the limit is closed and reported as refused", "[exercise][ch01]") {
    FaultScope faults;
    Fd listener = tcp_listener();
    Fd client = tcp_connect(listener.get());
    wait_pending(listener.get());
    int expected = next_fd();
    int before = open_fd_count();

    AcceptResult r = accept_guarded(listener.get(), expected);
    CHECK(r.status == Accept::refused);
    CHECK(r.fd == expected); // the number it had, for the log line
    CHECK(r.error == 0);
    CHECK_FALSE(is_open(expected));
    CHECK(open_fd_count() == before);
}

TEST_CASE("a refused client sees its connection closed, not a hang", "[exercise][ch01]") {
    FaultScope faults;
    Fd listener = tcp_listener();
    Fd client = tcp_connect(listener.get());
    wait_pending(listener.get());

    AcceptResult r = accept_guarded(listener.get(), next_fd());
    REQUIRE(r.status == Accept::refused);
    CHECK(sees_closed(client.get()));
}

TEST_CASE("refusing many connections leaks no descriptors and the server keeps serving",
          "[exercise][ch01]") {
    FaultScope faults;
    Fd listener = tcp_listener();
    std::vector<Fd> clients;
    for (int i = 0; i < 50; ++i)
        clients.push_back(tcp_connect(listener.get()));
    wait_pending(listener.get());
    int first = next_fd();
    int before = open_fd_count();

    // Room for exactly one more connection below the limit.
    std::vector<Fd> kept;
    int accepted = 0, refused = 0;
    auto deadline = Clock::now() + std::chrono::seconds(5);
    while (accepted + refused < 50 && Clock::now() < deadline) {
        AcceptResult r = accept_guarded(listener.get(), first + 1);
        if (r.status == Accept::accepted) {
            ++accepted;
            kept.emplace_back(r.fd);
        } else if (r.status == Accept::refused) {
            ++refused;
        } else if (r.status == Accept::none) {
            wait_for(listener.get(), POLLIN, 100);
        } else {
            FAIL("accept_guarded failed with errno " << r.error);
        }
    }
    CHECK(accepted == 1);
    CHECK(refused == 49);
    CHECK(open_fd_count() == before + 1);

    // Once the kept connection closes, its slot serves the next client.
    Fd late = tcp_connect(listener.get()); // before the close, so it takes another number
    wait_pending(listener.get());
    kept.clear();
    AcceptResult r = accept_guarded(listener.get(), first + 1);
    CHECK(r.status == Accept::accepted);
    CHECK(r.fd == first);
    if (r.status == Accept::accepted) ::close(r.fd);
}

TEST_CASE("accept is retried after EINTR and ECONNABORTED", "[exercise][ch01]") {
    FaultScope faults;
    Fd listener = tcp_listener();
    Fd client = tcp_connect(listener.get());
    wait_pending(listener.get());
    inject_errors(Call::accept, {EINTR, ECONNABORTED});

    AcceptResult r = accept_guarded(listener.get(), FD_SETSIZE);
    REQUIRE(r.status == Accept::accepted);
    Fd conn(r.fd);
    CHECK(calls(Call::accept) == 3); // interrupted, aborted, then the real one
}

TEST_CASE("running out of descriptors is reported with EMFILE and the client stays queued",
          "[exercise][ch01]") {
    FaultScope faults;
    Fd listener = tcp_listener();
    Fd client = tcp_connect(listener.get());
    wait_pending(listener.get());

    // Lower the soft limit to the next free descriptor: accept has no room.
    rlimit old{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &old) == 0);
    rlimit tight = old;
    tight.rlim_cur = static_cast<rlim_t>(next_fd());
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &tight) == 0);
    AcceptResult r = accept_guarded(listener.get(), FD_SETSIZE);
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &old) == 0);

    CHECK(r.status == Accept::failed);
    CHECK(r.error == EMFILE);
    CHECK(r.fd == -1);
    // Nothing was lost: with descriptors to spare, the same client is accepted.
    AcceptResult again = accept_guarded(listener.get(), FD_SETSIZE);
    REQUIRE(again.status == Accept::accepted);
    Fd conn(again.fd);
}
