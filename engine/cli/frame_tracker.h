// Which guest frames a VM has touched: the host memory it occupies when the host backs guest
// memory on demand (KVM maps a guest page at its first EPT violation / shadow fault).
//
// Attached to a Machine after the MMU backends as an observer only: it is not an MMU scheme,
// is not registered by name and never appears among a run's backends.
#pragma once

#include "engine/mmu/backend.h"

#include <cstdint>
#include <vector>

namespace vmmu {

class FrameTracker final : public Backend {
public:
    explicit FrameTracker(uint64_t guest_bytes) : touched_((guest_bytes + 4095) >> 12, false) {}

    std::string name() const override { return "frame-tracker"; }
    void on_access(const DataAccess& a) override { mark(a.pa.value(), a.size); }
    void on_fetch(const Fetch& f) override { mark(f.pa.value(), f.bytes ? f.bytes : 1); }
    // A repeated execution touches the pages the block's first one marked.
    void on_loop_repeats(std::span<const BlockEvents>, uint64_t) override {}
    // Guest events change no frame's contents the tracker has not seen as accesses already.
    void on_cr3_write(uint64_t, uint64_t) override {}
    void on_cr4_write(uint64_t, uint64_t) override {}
    void on_invlpg(uint64_t, GuestVirt) override {}
    void on_pt_write(uint64_t, GuestPhys, uint64_t, uint64_t, uint8_t) override {}
    void on_guest_fault(uint64_t, uint8_t, GuestVirt, uint32_t) override {}
    void on_timer(uint64_t) override {}
    void on_syscall(uint64_t) override {}
    void on_hlt(uint64_t) override {}
    void on_io(uint64_t, uint16_t, bool) override {}
    void on_sensitive(uint64_t, std::string_view) override {}
    void on_world_switch() override { ++counters_.details["world_switches"]; }
    void on_host_remap(GuestPhys, HostRemap) override {}

    const BackendCounters& counters() const override { return counters_; }
    CycleBreakdown cycles(uint64_t) const override { return {}; }

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
    BackendCounters counters_;
};

} // namespace vmmu
