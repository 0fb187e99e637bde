// Exercise ch02 interest_set: a user-space mirror of the kernel's interest
// list, kept in step through EPOLL_CTL_ADD, MOD and DEL.
//
// An event loop that remembers what each descriptor is registered for can
// skip every epoll_ctl() that would change nothing, and knows whether a
// change is an ADD (new to this epoll instance) or a MOD. The errors are
// part of the contract (epoll_ctl(2)):
//   - ADD of a descriptor the instance already watches fails with EEXIST
//     (someone registered it behind the mirror's back): switch to MOD.
//   - MOD or DEL of a descriptor it does not watch fails with ENOENT.
//   - close() drops a registration only when the *last* descriptor for the
//     open file is closed. A dup()ed or fork()ed copy keeps it alive, and the
//     closed number keeps being reported. Call remove() (EPOLL_CTL_DEL)
//     before close() whenever a copy may exist.
//   - When the last copy was closed, the kernel has already dropped the
//     registration, and the number may be reused by the next socket: forget()
//     it without a system call, or the next set() for that number would MOD
//     a registration that is not there. A DEL there would be worse: by then
//     the number may belong to a new socket, registered by someone else.
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>

namespace ioladder::ch02 {

class InterestSet {
  public:
    explicit InterestSet(int epfd) : epfd_(epfd) {}

    // Makes the kernel's interest for fd equal `events`, with data.fd = fd:
    // EPOLL_CTL_ADD if fd is not in the set, EPOLL_CTL_MOD if it is and the
    // events differ, no system call if they are equal. An ADD that fails
    // with EEXIST is retried as a MOD. Returns 0, or the errno of the call
    // that failed (the set is then unchanged).
    int set(int fd, uint32_t events);

    // Removes fd from the kernel's interest list (EPOLL_CTL_DEL) and from
    // the set. ENOENT (the kernel no longer had it) counts as success.
    // Returns 0, or another errno (the set then keeps fd). Removing an fd
    // that is not in the set still asks the kernel.
    int remove(int fd);

    // Drops fd from the set without a system call: for a descriptor whose
    // last copy was closed, which took the kernel's registration with it.
    void forget(int fd);

    bool contains(int fd) const { return events_.count(fd) != 0; }
    // The events registered for fd (0 if it is not in the set).
    uint32_t events(int fd) const {
        auto it = events_.find(fd);
        return it == events_.end() ? 0 : it->second;
    }
    std::size_t size() const { return events_.size(); }
    int epfd() const { return epfd_; }

  private:
    int epfd_;
    std::unordered_map<int, uint32_t> events_; // fd -> registered events
};

} // namespace ioladder::ch02
