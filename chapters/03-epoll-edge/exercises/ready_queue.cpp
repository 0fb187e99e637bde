// Exercise ch03 ready_queue: round-robin turns for connections with work left.
// Read ready_queue.hpp first. Grade it: ctest --preset exercises -R "ch03 ready_queue"
#include "ready_queue.hpp"

namespace ioladder::ch03 {

void ReadyQueue::push([[maybe_unused]] int fd) {
    // TODO: if fd is not in queued_, add it there and at the back of order_.
}

void ReadyQueue::remove([[maybe_unused]] int fd) {
    // TODO: take fd out of both queued_ and order_ (std::erase works on a deque).
}

bool ReadyQueue::contains([[maybe_unused]] int fd) const {
    // TODO: look it up in queued_.
    return false;
}

std::size_t ReadyQueue::size() const {
    // TODO: how many descriptors are queued.
    return 0;
}

int ReadyQueue::wait_timeout() const {
    // TODO: 0 while anything is queued, -1 otherwise.
    return -1;
}

std::size_t ReadyQueue::run_round([[maybe_unused]] const std::function<bool(int)>& turn) {
    // TODO: take the count of queued fds first: that many turns, no more.
    // For each: pop it from the front (and from queued_), call turn(fd), and
    // push(fd) again when turn returned true. Return the number of turns.
    return 0;
}

} // namespace ioladder::ch03
