// Exercise ch01 signal_wait: wait for a socket or a signal, and never miss
// the signal.
//
// A server stops on SIGTERM. A signal handler may call only async-signal-safe
// functions (signal-safety(7)), so the obvious design sets a flag in the
// handler and checks it in the loop:
//
//     while (!stop_requested) {   // (1) the check
//         select(...);            // (2) the wait
//         ...
//     }
//
// A signal that arrives after (1) and before select() has started sleeping
// runs the handler, sets the flag, and is then forgotten: select() sleeps on
// until something else happens, which for an idle server may be never.
// Retrying on EINTR does not help; the signal came before the call, so there
// is no EINTR. Chapter 01 explains why its servers use a shutdown pipe
// instead; select(2) describes a second way, pselect(), made for exactly this
// race. Pick one, or another that closes the window: the tests only look at
// what happens, and they make the signal arrive at the worst moment.
#pragma once

namespace ioladder::ch01 {

// Prepares the process so that wait_readable() can report `sig`: installs
// the handler and whatever else your design needs. Returns 0, or an errno.
// It is called at the start of each test, possibly more than once in one
// process; the later calls must keep working.
int catch_signal(int sig);

enum class Woke {
    readable,  // fd is readable
    signalled, // the signal arrived (it wins over readable when both hold)
    timed_out, // timeout_ms passed with neither
    failed,    // an error other than an interruption; errno says which
};

// Waits until `fd` is readable, or the signal given to catch_signal() has
// arrived since the last call that returned signalled, or `timeout_ms`
// milliseconds pass (-1: no limit). A signal that arrives at any moment,
// before the call, during it, or between your check and your wait, ends the
// wait at once. Signals that arrive close together may be reported as one;
// once reported, a signal is not reported again. Another signal interrupting
// the wait (EINTR) is not a reason to return: wait on.
Woke wait_readable(int fd, int timeout_ms);

} // namespace ioladder::ch01
