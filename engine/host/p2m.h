// The host's map of one VM's guest-physical memory (p2m: gPA -> hPA).
//
// Guest data stays at gPA in the engine's buffer; hPA is a modelled host address. The MMU
// models place their own structures (EPT pages, shadow pages) at host addresses of their own and
// must translate to exactly p2m(gPA) (the oracle). The VM's memory starts as one host-contiguous,
// 1 GiB-aligned range, so 2 MiB and 1 GiB nested mappings are always possible until the host
// remaps single guest frames (memory deduplication, engine/host/dedup.h): a remapped frame is a
// per-frame override of the linear map, possibly pointing at a frame shared read-only with
// other frames or VMs.
#pragma once

#include "engine/core/addr.h"

#include <cstdint>
#include <vector>

namespace vmmu {

class P2m {
public:
    explicit P2m(HostPhys base = HostPhys(uint64_t{1} << 32)) : base_(base) {}

    // Hot path (every oracle check): one predictable branch while nothing is remapped.
    HostPhys translate(GuestPhys pa) const {
        if (remapped_ == 0) return linear(pa);
        uint64_t gfn = pa.page_number();
        uint64_t o = gfn < frames_.size() ? frames_[gfn] : 0;
        return o ? HostPhys((o & ~kSharedBit) | pa.page_offset()) : linear(pa);
    }
    // Where gPA sits in the VM's initial host range (what bare metal, without a host, has).
    HostPhys linear(GuestPhys pa) const { return HostPhys(base_.value() + pa.value()); }
    HostPhys base() const { return base_; }

    // True when the frame holding pa is shared read-only with other guest frames.
    bool shared(GuestPhys pa) const {
        if (remapped_ == 0) return false;
        uint64_t gfn = pa.page_number();
        return gfn < frames_.size() && (frames_[gfn] & kSharedBit);
    }
    // True when [base, base + 2^shift) is still mapped linearly (large mappings are possible).
    bool contiguous(GuestPhys base, unsigned shift) const {
        if (remapped_ == 0) return true;
        uint64_t first = base.page_number(), n = uint64_t{1} << (shift - kPageShift4K);
        for (uint64_t g = first; g < first + n && g < frames_.size(); ++g)
            if (frames_[g]) return false;
        return true;
    }

    // Points the guest frame holding pa at host frame `frame` (4 KiB aligned), shared read-only
    // or private. Remapping a frame to its linear place restores the linear map for it.
    void remap(GuestPhys pa, HostPhys frame, bool shared) {
        uint64_t gfn = pa.page_number();
        if (gfn >= frames_.size()) frames_.resize(gfn + 1, 0);
        bool was = frames_[gfn] != 0;
        bool linear_private = frame == linear(pa.page_base()) && !shared;
        frames_[gfn] = linear_private ? 0 : frame.page_base().value() | (shared ? kSharedBit : 0);
        remapped_ += (frames_[gfn] != 0) - static_cast<int>(was);
    }
    uint64_t remapped_frames() const { return remapped_; }

private:
    static constexpr uint64_t kSharedBit = 1;
    HostPhys base_;
    std::vector<uint64_t> frames_; // per gfn: 0 = linear, else host frame | kSharedBit
    uint64_t remapped_ = 0;
};

} // namespace vmmu
