// Reference solution for the nag_counter exercise (see ../nag_counter.hpp).
#include "nag_counter.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <map>
#include <sys/epoll.h>

namespace ioladder::ch02 {

NagReport count_nags(int epfd, int waits) {
    NagReport report;
    std::map<int, Nag> by_fd; // sorted by fd, as the report wants
    // Room for every registered descriptor: with fewer slots than ready
    // descriptors, epoll_wait() hands them out a slice per call (rotating),
    // and a nagging descriptor would be missing from some waits.
    std::array<epoll_event, kMaxWatched> events;
    while (report.waits < waits) {
        int n = epoll_wait(epfd, events.data(), kMaxWatched, 0); // 0: what is ready now
        if (n < 0) {
            if (errno == EINTR) continue; // interrupted: this wait did not happen
            break;
        }
        ++report.waits;
        std::map<int, uint32_t> this_wait; // a dup can put one fd in a wait twice
        for (int i = 0; i < n; ++i)
            this_wait[events[i].data.fd] |= events[i].events;
        for (auto [fd, bits] : this_wait) {
            Nag& nag = by_fd[fd];
            nag.fd = fd;
            ++nag.reports; // once per wait
            nag.seen |= bits;
        }
    }
    for (auto& [fd, nag] : by_fd)
        report.fds.push_back(nag);
    return report;
}

} // namespace ioladder::ch02
