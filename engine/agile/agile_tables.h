// Agile paging's shadowed part (Gandhi, Hill, Swift, "Agile Paging: Exceeding the Best of Nested
// and Shadow Paging", ISCA 2016): per guest page-table page, either a shadow page the hypervisor
// keeps coherent (write-protected: every guest write to it exits and is emulated) or nested
// mode, where the hardware walks the guest page itself, two-dimensionally, from there down.
//
// A shadow page holds, per entry, the guest entry as the hypervisor last saw it (filled lazily by
// a hidden fault, updated on each emulated write). A non-leaf entry leads to the shadow page of
// the next guest table; a leaf gives the data gPA, which the hypervisor maps to p2m(gPA). A
// stale entry gives a wrong translation, which the oracle catches. Shadow pages have host
// frames of their own, 1 GiB above the EPT pool (engine/host/host_frames.h, host_layout).
#pragma once

#include "engine/core/addr.h"
#include "engine/core/guest_memory.h"

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

namespace vmmu::agile {

struct ShadowPage {
    GuestPhys gpa;       // the guest page-table page it mirrors
    HostPhys frame;      // where the shadow page lives in host memory
    int level = 4;       // 5 = PML5 (CR4.LA57), 4 = PML4 ... 1 = PT
    bool nested = false; // nested mode: walks switch to 2D at this page
    bool top = false;    // nested and its parent shadowed: where a subtree was switched
    bool dirty = false;  // written since the last revert check (EPT dirty bit of its frame)
    uint32_t writes = 0; // writes while shadowed, since it last entered shadow mode
    std::array<uint64_t, 512> entry{}; // guest entries as last seen (0: not filled)
};

class ShadowPages {
public:
    ShadowPages(GuestMemory& memory, HostPhys pool_base) : memory_(memory), pool_(pool_base) {}
    ShadowPages(const ShadowPages&) = delete;
    ShadowPages& operator=(const ShadowPages&) = delete;

    // The page mirroring guest table `gpa` at `level`, created (shadowed, watched) if new. A
    // frame met again at another level starts over: its entries meant something else.
    ShadowPage& get(GuestPhys gpa, int level);
    ShadowPage* find(GuestPhys gpa);
    ShadowPage* at_frame(HostPhys frame) const;
    // Every known page below `top` through the guest's current entries, `top` included.
    void for_subtree(ShadowPage& top, const std::function<void(ShadowPage&)>& visit);
    // Pages that head a nested subtree.
    std::vector<ShadowPage*> nested_tops() const;
    uint64_t size() const { return by_frame_.size(); }

private:
    GuestMemory& memory_;
    HostPhys pool_;
    std::unordered_map<uint64_t, std::unique_ptr<ShadowPage>> by_gfn_;
    std::vector<ShadowPage*> by_frame_; // index = (frame - pool) / 4K
};

} // namespace vmmu::agile
