// Exercise ch02 nag_counter: find the descriptors that nag.
//
// Level-triggered readiness is a state: as long as a socket has unread data,
// is at end of file, has an error pending, or (when EPOLLOUT is asked for)
// has room to write, every epoll_wait() reports it. level_nagging shows it
// for one socket. A server whose CPU is busy while its clients are idle is
// usually being nagged: some connection is reported on every wait and the
// handler does nothing about it (a socket at EOF still registered for
// EPOLLIN, or EPOLLOUT left on with nothing to send).
//
// Write the diagnostic: wait a number of times without touching anything,
// and report, per descriptor, how many of those waits reported it and with
// which bits. The decisions are yours; the tests check these:
//   - a wait must be able to return every ready descriptor at once, however
//     many there are, or some waits would miss some of them;
//   - the waits must not sleep: the point is what is ready now;
//   - an interrupted wait (EINTR) did not happen, and is not counted;
//   - one descriptor can appear twice in one wait (a dup() of it registered
//     with the same data.fd): it was still reported by one wait, not two,
//     and the bits of both reports count.
#pragma once

#include <cstdint>
#include <vector>

namespace ioladder::ch02 {

// The caller never registers more than this many descriptors with epfd.
inline constexpr int kMaxWatched = 256;

struct Nag {
    int fd = -1;       // data.fd of the reports
    int reports = 0;   // how many of the waits reported it
    uint32_t seen = 0; // every event bit reported for it, OR-ed together
};

struct NagReport {
    int waits = 0;        // waits that completed (EINTR excluded)
    std::vector<Nag> fds; // each descriptor reported at least once, lowest fd first
};

// Calls epoll_wait() on epfd `waits` times, reading and changing nothing,
// and tallies the reports by data.fd. Any failure other than EINTR ends the
// count: the report so far is returned.
NagReport count_nags(int epfd, int waits);

} // namespace ioladder::ch02
