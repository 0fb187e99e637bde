// Exercise ch03 drain_loop: read until EAGAIN under a bounded buffer.
// Read drain_loop.hpp first. Grade it: ctest --preset exercises -R drain_loop
#include "drain_loop.hpp"

#include <cerrno>
#include <sys/socket.h>

namespace ioladder::ch03 {

DrainResult drain_reads([[maybe_unused]] int fd, [[maybe_unused]] std::string& buf,
                        [[maybe_unused]] std::size_t limit) {
    // TODO: loop:
    //   room = limit - buf.size(); no room left: stop with Drain::full (do not
    //   call recv() with a length of 0: its 0 would look like end of file);
    //   recv() at most `room` bytes (a few KiB at a time is fine) and append them;
    //   0 from recv(): Drain::peer_closed;  EINTR: retry;
    //   EAGAIN/EWOULDBLOCK: Drain::drained;  any other errno: Drain::failed with it.
    // Count the bytes you appended in `bytes`, whatever the status.
    return {Drain::failed, 0, ENOSYS};
}

} // namespace ioladder::ch03
