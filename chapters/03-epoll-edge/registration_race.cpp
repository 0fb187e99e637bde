// registration_race.cpp: one thread closes a poller while another registers
// with it and a third waits on it: the seed's race, shown and fixed. The
// two pollers are in registration_race.hpp.
//
// What it shows
//   - The "window" schedule makes the race certain: the registrar passes the
//     "closed?" check, then parks in a demo hook (after_check) while this
//     thread closes the poller and opens a new epoll instance, which gets
//     the lowest free number: the one close() just freed. A waiter is asleep
//     in epoll_wait all along.
//   - RacyPoller: the registration lands in the new instance, and the waiter
//     sleeps on until its timeout. Poller: close() waits for the parked
//     registrar, which registers on the old instance first, and wakes the
//     waiter.
//   - The stress harness (many rounds, no hook) is a test:
//     tests/chapters/registration_race_stress.cpp.
//
// Run it:
//   ./build/default/chapters/03-epoll-edge/registration_race   (--poller racy|locked)
// Exit 1 when the locked Poller misbehaves; the racy one is expected to.
#include "registration_race.hpp"

#include "options.hpp"

#include <chrono>
#include <semaphore>
#include <string>
#include <thread>
#include <type_traits>

using namespace ioladder;
using namespace ioladder::ch03;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

const char* result_name(Result r) {
    const char* const names[] = {"ok", "poll_closed", "timed_out", "failed"}; // as in Result
    return names[static_cast<int>(r)];
}

// [snippet: window-schedule]
// The registrar passes the "closed?" check, then parks in after_check while
// this thread closes the poller and opens a new epoll instance, which gets
// the lowest free descriptor number: the one close() just freed.
template <typename P>
bool run_window() {
    P poller;
    const int old_epfd = poller.epoll_fd();
    int fd = quiet_fd();
    std::binary_semaphore in_window{0}, closed{0};
    poller.after_check = [&] {
        in_window.release();
        closed.try_acquire_for(200ms); // Poller: close() is waiting for us, so give up
    };
    Outcome waited, registered;
    double wait_ms = 0;
    std::thread waiter([&] {
        auto t0 = Clock::now();
        waited = poller.wait(2000); // -1 in real code; 2 s so the demo ends
        wait_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    });
    std::this_thread::sleep_for(100ms); // the waiter is asleep in epoll_wait by now
    std::thread registrar([&] { registered = poller.register_fd(fd); });
    in_window.acquire();
    poller.close();
    int other = epoll_create1(EPOLL_CLOEXEC);
    if (other < 0) die("epoll_create1");
    closed.release();
    registrar.join();
    waiter.join();
    bool landed = registered_in(other, fd);
    // [/snippet]
    const char* name = std::is_same_v<P, Poller> ? "locked" : "racy";
    std::printf("window %s: register=%s%s%s landed_in_new_epoll=%d epoll_fd_reused=%d "
                "waiter=%s waiter_ms=%.0f\n",
                name, result_name(registered.result), registered.error ? "/" : "",
                registered.error ? strerrorname_np(registered.error) : "", landed ? 1 : 0,
                other == old_epfd ? 1 : 0, result_name(waited.result), wait_ms);
    close(other);
    close(fd);
    // The fixed poller: registered before close (on the old instance), and
    // the waiter woken by close().
    return registered.result == Result::ok && !landed && waited.result == Result::poll_closed;
}

} // namespace

int main(int argc, char** argv) {
    std::string poller = "both";
    parse_args(argc, argv,
               "Closes a poller while one thread registers with it and another waits on it,\n"
               "with the registrar parked between its check and its epoll_ctl.",
               {Option::Text("--poller", "WHICH", &poller, "racy|locked|both (default both)",
                             "racy|locked|both")});
    bool ok = true;
    // The racy poller's results are the demonstration; only the fixed one is judged.
    if (poller != "locked") run_window<RacyPoller>();
    if (poller != "racy") ok &= run_window<Poller>();
    if (!ok) warn("the locked Poller misbehaved (see above)");
    return ok ? 0 : 1;
}
