// Reference solution for the ready_queue exercise (see ../ready_queue.hpp).
#include "ready_queue.hpp"

namespace ioladder::ch03 {

void ReadyQueue::push(int fd) {
    if (queued_.insert(fd).second) order_.push_back(fd);
}

void ReadyQueue::remove(int fd) {
    if (queued_.erase(fd) > 0) std::erase(order_, fd);
}

bool ReadyQueue::contains(int fd) const {
    return queued_.count(fd) > 0;
}

std::size_t ReadyQueue::size() const {
    return order_.size();
}

int ReadyQueue::wait_timeout() const {
    return order_.empty() ? -1 : 0;
}

std::size_t ReadyQueue::run_round(const std::function<bool(int)>& turn) {
    // The round is the queue as it is now: anything pushed from here on
    // (by turn, or the fd itself going back) lands behind these n.
    const std::size_t n = order_.size();
    for (std::size_t i = 0; i < n; ++i) {
        int fd = order_.front();
        order_.pop_front();
        queued_.erase(fd);
        if (turn(fd)) push(fd);
    }
    return n;
}

} // namespace ioladder::ch03
