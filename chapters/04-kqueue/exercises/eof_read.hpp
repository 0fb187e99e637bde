// Exercise ch04 eof_read: read what one EVFILT_READ event reported, trusting
// what kqueue counted.
//
// kqueue tells more than "readable". For a stream socket, `data` is the
// number of bytes waiting when the event was made, and EV_EOF says the
// peer's FIN is in, behind those bytes; with EV_EOF, an error in `fflags`
// says the connection was reset (kqueue(2), EVFILT_READ). Chapter 03's
// loop had to learn both with system calls: a short read to prove the
// socket empty, and a recv() that returns 0 to see the FIN. Here:
//   - when kqueue counted the bytes (data > 0, or EV_EOF), read that many. A
//     short read does not end it: recv() stops short at a TCP urgent mark
//     with ordinary data behind it, and that data was counted;
//   - after the last counted byte, with EV_EOF, the connection is finished:
//     no recv() is needed to hear the 0;
//   - the Linux teaching layer cannot count without another system call,
//     and leaves data at 0 (without EV_EOF) to say "not counted": then
//     chapter 03's rule holds, and a short read proves the socket empty;
//   - at an urgent mark the layer reports data = INT64_MAX: read until EAGAIN.
#pragma once

#include <cstddef>
#include <string>
#include <sys/event.h>
#include <sys/types.h>

namespace ioladder::ch04 {

enum class ReadEnd {
    wait,     // everything the event reported is read: wait for the next event
    finished, // EV_EOF, and every byte before the FIN is read
    reset,    // EV_EOF with an error in fflags: nothing was read
    failed,   // recv() failed (ECONNRESET, ...); `error` says with what
};

struct EventRead {
    ReadEnd end = ReadEnd::failed;
    std::size_t bytes = 0; // appended to `out` by this call
    int error = 0;         // reset, failed: the errno; else 0
};

// The size of every recv(): at most this many bytes per call.
inline constexpr std::size_t kChunk = 4096;

// Handles one EVFILT_READ event `ev` for the non-blocking stream socket
// ev.ident (registered with EV_ADD | EV_CLEAR), appending what it reads to
// `out`, with recv() calls of at most kChunk bytes and no more calls than
// the event's counts make necessary. EINTR is retried; EAGAIN ends the read
// (wait) whatever the count said.
EventRead read_event(const struct kevent& ev, std::string& out);

} // namespace ioladder::ch04
