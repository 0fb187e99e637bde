// log.hpp: how every program of the ladder reports what it is doing.
//
// Every line on stderr starts with the program's name, so a log line from a
// test run says which program wrote it. die() is for a call the program
// cannot go on without: it names what was being done and the errno text.
#pragma once

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace ioladder {

inline const char* g_program = "ioladder";
inline bool g_verbose = false;

[[gnu::format(printf, 1, 2)]] inline void warn(const char* fmt, ...) {
    std::va_list ap;
    va_start(ap, fmt);
    std::fprintf(stderr, "%s: ", g_program);
    std::vfprintf(stderr, fmt, ap);
    std::fputc('\n', stderr);
    va_end(ap);
}

// Per-event log, only with -v. Cheap when off: one branch.
#define IOLADDER_LOG(...)                                                                          \
    do {                                                                                           \
        if (::ioladder::g_verbose) ::ioladder::warn(__VA_ARGS__);                                  \
    } while (0)

// A failed call that the program cannot continue without: name what we were
// doing and the errno text, then exit 1.
[[noreturn]] inline void die(const char* what) {
    int e = errno;
    warn("%s: %s", what, std::strerror(e));
    std::exit(1);
}

} // namespace ioladder
