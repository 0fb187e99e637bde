// Exercise ch01 write_first: send now, buffer only the rest.
// Read write_first.hpp first. Grade it: ctest --preset exercises -R "ch01 write_first"
#include "write_first.hpp"

#include <cerrno>
#include <cstring>
#include <sys/socket.h>

namespace ioladder::ch01 {

ReplyResult send_reply([[maybe_unused]] int fd, [[maybe_unused]] std::span<const char> reply,
                       [[maybe_unused]] OutBuffer& out) {
    // TODO: decide between sending now and queueing behind what is pending;
    // when you send, keep going until the kernel says it has no room (which
    // a short write does not say), and put only the unsent rest into `out`
    // (through space() and commit(), which may take more than one round).
    // Limits: never reorder bytes; never send while `out` holds bytes; no
    // memory other than `out`; every status and `sent` as the header says.
    return {Reply::failed, 0, ENOSYS};
}

} // namespace ioladder::ch01
