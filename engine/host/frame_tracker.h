// Which guest frames a VM has touched: the host memory it occupies when the host backs guest
// memory on demand (KVM maps a guest page at its first EPT violation / shadow fault).
//
// A plain guest observer attached to a Machine after the MMU backends: it is not an MMU scheme,
// is not registered by name and never appears among a run's backends.
#pragma once

#include "engine/core/guest_events.h"

#include <cstdint>
#include <vector>

namespace vmmu {

class FrameTracker final : public GuestObserver {
public:
    explicit FrameTracker(uint64_t guest_bytes) : touched_((guest_bytes + 4095) >> 12, false) {}

    bool models_vcpus() const override { return true; } // frames are the VM's, not a vCPU's
    void on_access(const DataAccess& a) override { mark(a.pa.value(), a.size); }
    void on_fetch(const Fetch& f) override { mark(f.pa.value(), f.bytes ? f.bytes : 1); }
    // A repeated execution touches the pages the body's first one marked; no other guest event
    // touches a frame that was not an access already.
    void on_loop_repeats(std::span<const BlockEvents>, uint64_t) override {}

    uint64_t frames_touched() const { return count_; }
    bool touched(uint64_t gfn) const { return gfn < touched_.size() && touched_[gfn]; }

private:
    void mark(uint64_t pa, uint64_t len) {
        for (uint64_t f = pa >> 12, last = (pa + len - 1) >> 12; f <= last; ++f)
            if (f < touched_.size() && !touched_[f]) {
                touched_[f] = true;
                ++count_;
            }
    }

    std::vector<bool> touched_;
    uint64_t count_ = 0;
};

} // namespace vmmu
