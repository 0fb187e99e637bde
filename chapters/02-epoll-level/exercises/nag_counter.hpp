// Exercise ch02 nag_counter: count how often epoll_wait() reports a socket
// that nobody reads.
//
// Level-triggered readiness is a state: as long as a socket has unread data
// (or is at EOF, or has a pending error), every epoll_wait() reports it. The
// chapter's level_nagging program shows it; here you write the counter and
// the tests use it to pin the behaviour down, including two cases that catch
// servers out: a socket at EOF is readable forever, and a report can be
// crowded out of a wait whose events array is too small.
#pragma once

#include <cstdint>

namespace ioladder::ch02 {

// The caller never registers more than this many descriptors with epfd.
inline constexpr int kMaxWatched = 256;

struct NagCount {
    int waits = 0;     // epoll_wait() calls that returned (EINTR excluded)
    int reports = 0;   // how many of them reported fd
    uint32_t seen = 0; // every event bit reported for fd, OR-ed together
};

// Calls epoll_wait(epfd, ..., 0) -- timeout 0: report what is ready now,
// never sleep -- `waits` times, reading nothing, and counts the calls that
// reported fd (recognised by data.fd == fd). Each call must be able to
// return every registered descriptor at once. A call that fails with EINTR
// did not happen: repeat it. Any other failure: stop and return the counts
// so far.
NagCount count_reports(int epfd, int fd, int waits);

} // namespace ioladder::ch02
