// Reference solution for the changelist exercise (see ../changelist.hpp).
#include "changelist.hpp"

namespace ioladder::ch04 {

void Changelist::want(int fd, short filter, bool on, void* udata) {
    Filter& f = filters_[{fd, filter}];
    f.wanted = on;
    if (on) f.udata = udata;
}

void Changelist::closing(int fd) {
    // close() deletes the filters in the kernel: there is nothing to send,
    // and nothing left there for a new descriptor with this number.
    std::erase_if(filters_, [fd](const auto& entry) { return entry.first.first == fd; });
}

std::vector<struct kevent> Changelist::take() {
    std::vector<struct kevent> changes;
    for (auto it = filters_.begin(); it != filters_.end();) {
        auto& [key, f] = *it;
        // Only the difference between what is wanted and what the kernel
        // has: on then off again before the wait is no change, and there is
        // never an EV_DELETE for a filter the kernel does not have.
        bool add = f.wanted && (!f.in_kernel || f.udata != f.kernel_udata);
        bool del = !f.wanted && f.in_kernel;
        if (add || del) {
            struct kevent c;
            EV_SET(&c, key.first, key.second, add ? EV_ADD : EV_DELETE, 0, 0,
                   add ? f.udata : nullptr);
            changes.push_back(c);
            f.in_kernel = f.wanted;
            f.kernel_udata = f.udata;
        }
        if (!f.in_kernel && !f.wanted)
            it = filters_.erase(it); // nothing to remember
        else
            ++it;
    }
    return changes;
}

bool Changelist::registered(int fd, short filter) const {
    auto it = filters_.find({fd, filter});
    return it != filters_.end() && it->second.in_kernel;
}

} // namespace ioladder::ch04
