// Grades the ch02 interest_set exercise
// (chapters/02-epoll-level/exercises/interest_set.hpp). Every check compares
// the set with the kernel's own interest list, read from
// /proc/self/fdinfo/<epfd>, and with what epoll_wait() reports.
#include "catch_compat.hpp"
#include "ch02_epoll_support.hpp"
#include "faults.hpp"
#include "interest_set.hpp"

using namespace ioladder::test;
using ioladder::ch02::InterestSet;

TEST_CASE("set adds a new descriptor to the kernel's interest list", "[exercise][ch02]") {
    Fd ep = new_epoll();
    auto [a, b] = small_socketpair();
    InterestSet set(ep.get());
    CHECK(set.set(a.get(), EPOLLIN) == 0);
    CHECK(set.contains(a.get()));
    CHECK(set.events(a.get()) == EPOLLIN);
    auto list = interest_list(ep.get());
    REQUIRE(list.count(a.get()) == 1);
    CHECK((list[a.get()].events & (EPOLLIN | EPOLLOUT)) == EPOLLIN);
    CHECK(list[a.get()].data == static_cast<uint64_t>(a.get()));
    REQUIRE(::write(b.get(), "x", 1) == 1);
    CHECK(reported_for(ep.get(), a.get()) == EPOLLIN);
}

TEST_CASE("set changes the events of a registered descriptor", "[exercise][ch02]") {
    Fd ep = new_epoll();
    auto [a, b] = small_socketpair();
    InterestSet set(ep.get());
    REQUIRE(set.set(a.get(), EPOLLIN) == 0);
    CHECK(set.set(a.get(), EPOLLIN | EPOLLOUT) == 0);
    CHECK(set.events(a.get()) == (EPOLLIN | EPOLLOUT));
    CHECK(set.size() == 1);
    CHECK((interest_list(ep.get())[a.get()].events & EPOLLOUT) != 0);
    CHECK(reported_for(ep.get(), a.get()) == EPOLLOUT);
}

TEST_CASE("set with the events already registered makes no system call", "[exercise][ch02]") {
    Fd ep = new_epoll();
    auto [a, b] = small_socketpair();
    InterestSet set(ep.get());
    REQUIRE(set.set(a.get(), EPOLLIN) == 0);
    // A marker in the registration's data: any ADD or MOD would replace it.
    const uint64_t marker = 0x5ca1ab1eull;
    ctl(ep.get(), EPOLL_CTL_MOD, a.get(), EPOLLIN, marker);
    CHECK(set.set(a.get(), EPOLLIN) == 0);
    CHECK(interest_list(ep.get())[a.get()].data == marker);
}

TEST_CASE("set recovers from EEXIST when the descriptor was registered behind its back",
          "[exercise][ch02]") {
    Fd ep = new_epoll();
    auto [a, b] = small_socketpair();
    ctl(ep.get(), EPOLL_CTL_ADD, a.get(), EPOLLIN, 12345);
    InterestSet set(ep.get());
    CHECK(set.set(a.get(), EPOLLIN | EPOLLOUT) == 0);
    CHECK(set.events(a.get()) == (EPOLLIN | EPOLLOUT));
    auto list = interest_list(ep.get());
    CHECK(list.size() == 1);
    CHECK((list[a.get()].events & EPOLLOUT) != 0);
    CHECK(list[a.get()].data == static_cast<uint64_t>(a.get()));
}

TEST_CASE("a failed set returns the errno and leaves the set unchanged", "[exercise][ch02]") {
    Fd ep = new_epoll();
    // A regular file cannot be watched by epoll: EPERM (epoll_ctl(2)).
    Fd file(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    REQUIRE(file.get() >= 0);
    InterestSet set(ep.get());
    CHECK(set.set(file.get(), EPOLLIN) == EPERM);
    CHECK_FALSE(set.contains(file.get()));
    CHECK(set.size() == 0);
}

TEST_CASE("remove deletes the registration even while a dup keeps the socket open",
          "[exercise][ch02]") {
    Fd ep = new_epoll();
    auto [a, b] = small_socketpair();
    InterestSet set(ep.get());
    REQUIRE(set.set(a.get(), EPOLLIN) == 0);
    Fd copy(::dup(a.get())); // e.g. a child process or a second owner
    REQUIRE(copy.get() >= 0);
    CHECK(set.remove(a.get()) == 0);
    CHECK_FALSE(set.contains(a.get()));
    const int closed = a.get();
    a.reset();
    // Without the DEL, the copy would keep the registration alive and the
    // closed number would be reported for this data.
    REQUIRE(::write(b.get(), "x", 1) == 1);
    CHECK(reported_for(ep.get(), closed) == 0u);
    CHECK(interest_list(ep.get()).empty());
}

TEST_CASE("remove treats a registration the kernel no longer has as removed", "[exercise][ch02]") {
    Fd ep = new_epoll();
    auto [a, b] = small_socketpair();
    InterestSet set(ep.get());
    REQUIRE(set.set(a.get(), EPOLLIN) == 0);
    ctl(ep.get(), EPOLL_CTL_DEL, a.get(), 0, 0); // gone behind the set's back
    CHECK(set.remove(a.get()) == 0);             // ENOENT from the kernel
    CHECK_FALSE(set.contains(a.get()));
    CHECK(set.size() == 0);
}

TEST_CASE("remove of a descriptor the set does not know still asks the kernel",
          "[exercise][ch02]") {
    Fd ep = new_epoll();
    auto [a, b] = small_socketpair();
    ctl(ep.get(), EPOLL_CTL_ADD, a.get(), EPOLLIN, 1);
    InterestSet set(ep.get());
    CHECK(set.remove(a.get()) == 0);
    CHECK(interest_list(ep.get()).empty());
}

TEST_CASE("remove reports an error other than ENOENT and keeps the entry", "[exercise][ch02]") {
    Fd ep = new_epoll();
    auto [a, b] = small_socketpair();
    InterestSet set(ep.get());
    REQUIRE(set.set(a.get(), EPOLLIN) == 0);
    const int number = a.get();
    a.reset(); // last copy closed: the kernel dropped it, and DEL now says EBADF
    CHECK(set.remove(number) == EBADF);
    CHECK(set.contains(number));
    set.forget(number);
    CHECK_FALSE(set.contains(number));
}

TEST_CASE("after forget a new socket with the same number is added afresh", "[exercise][ch02]") {
    Fd ep = new_epoll();
    auto [a, b] = small_socketpair();
    InterestSet set(ep.get());
    REQUIRE(set.set(a.get(), EPOLLIN) == 0);
    const int number = a.get();
    a.reset(); // the kernel drops the registration with the last copy
    set.forget(number);
    CHECK(set.size() == 0);
    // The next socket takes the lowest free number: the one just closed.
    auto [c, d] = small_socketpair();
    REQUIRE(c.get() == number);
    // A set that still thought `number` was registered would MOD: ENOENT.
    CHECK(set.set(c.get(), EPOLLIN) == 0);
    REQUIRE(::write(d.get(), "x", 1) == 1);
    CHECK(reported_for(ep.get(), c.get()) == EPOLLIN);
}

TEST_CASE("forget makes no system call, even when the number is registered again",
          "[exercise][ch02]") {
    // The loop closed a connection (the kernel dropped its registration) and
    // accept() handed the number to a new client, which some other part of
    // the program has registered already. Only then does the old connection's
    // bookkeeping run. A forget() that deleted would unregister the new client.
    FaultScope faults;
    Fd ep = new_epoll();
    auto [a, b] = small_socketpair();
    InterestSet set(ep.get());
    REQUIRE(set.set(a.get(), EPOLLIN) == 0);
    const int number = a.get();
    a.reset();
    auto [c, d] = small_socketpair();
    REQUIRE(c.get() == number);
    const uint64_t marker = 0xc0ffeeull;
    ctl(ep.get(), EPOLL_CTL_ADD, c.get(), EPOLLIN, marker);
    target(ep.get());
    STEP("forget of a number whose old socket was closed");
    set.forget(number);
    CHECK(calls(Call::epoll_ctl) == 0);
    CHECK_FALSE(set.contains(number));
    auto list = interest_list(ep.get());
    REQUIRE(list.count(number) == 1);
    CHECK(list[number].data == marker);
}

TEST_CASE("each change of events costs exactly one epoll_ctl", "[exercise][ch02]") {
    FaultScope faults;
    Fd ep = new_epoll();
    auto [a, b] = small_socketpair();
    InterestSet set(ep.get());
    target(ep.get());
    STEP("set: a new descriptor");
    REQUIRE(set.set(a.get(), EPOLLIN) == 0);
    CHECK(calls(Call::epoll_ctl) == 1); // ADD
    STEP("set: new events for a known descriptor");
    REQUIRE(set.set(a.get(), EPOLLIN | EPOLLOUT) == 0);
    INFO("the set knows it is registered: a MOD, not an ADD that fails with EEXIST first");
    CHECK(calls(Call::epoll_ctl) == 2);
    CHECK(failures(Call::epoll_ctl, EEXIST) == 0);
    REQUIRE(set.set(a.get(), EPOLLOUT) == 0);
    CHECK(calls(Call::epoll_ctl) == 3);
    REQUIRE(set.set(a.get(), EPOLLOUT) == 0); // unchanged: none
    CHECK(calls(Call::epoll_ctl) == 3);
    REQUIRE(set.remove(a.get()) == 0);
    CHECK(calls(Call::epoll_ctl) == 4); // DEL
    CHECK((interest_list(ep.get()).count(a.get()) == 0));
}
