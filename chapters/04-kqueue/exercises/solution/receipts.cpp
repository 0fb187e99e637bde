// Reference solution for the receipts exercise (see ../receipts.hpp).
#include "receipts.hpp"

#include <cerrno>

namespace ioladder::ch04 {

std::vector<int> apply_all(int kq, std::span<const struct kevent> changes) {
    // A copy with EV_RECEIPT on each: every change answers, and a call with
    // answers to give collects no events.
    std::vector<struct kevent> batch(changes.begin(), changes.end());
    for (struct kevent& c : batch)
        c.flags |= EV_RECEIPT;
    // One slot per answer: without room the rest of the batch is not processed.
    std::vector<struct kevent> answers(batch.size());
    int n = kevent(kq, batch.data(), static_cast<int>(batch.size()), answers.data(),
                   static_cast<int>(answers.size()), nullptr);
    if (n < 0) return std::vector<int>(changes.size(), errno);
    // With EV_RECEIPT every change answers, in order: answer i is change i.
    std::vector<int> results(changes.size(), 0);
    for (int i = 0; i < n; ++i)
        results[static_cast<std::size_t>(i)] =
            static_cast<int>(answers[static_cast<std::size_t>(i)].data);
    return results;
}

} // namespace ioladder::ch04
