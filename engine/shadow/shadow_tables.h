// Shadow page tables: real x86-64 tables of the guest's level count (4, or 5 with CR4.LA57; gVA ->
// hPA) in the model's host memory.
//
// Each shadow page sits at its own host-physical address from a frame pool outside the VM's
// p2m range, so shadow entries hold real host addresses and a walk follows them like the MMU
// would. Pages are identified as in KVM (Documentation/virt/kvm/x86/mmu.rst): a page shadows
// one guest table frame at one level, or is "direct" (a split of a guest large page, shadowing
// no guest table). A guest frame with a non-direct shadow page is write-protected (watched).
#pragma once

#include "engine/core/addr.h"
#include "engine/core/guest_memory.h"
#include "engine/host/p2m.h"
#include "engine/core/paging.h"

#include <array>
#include <cstdint>
#include <deque>
#include <unordered_map>
#include <vector>

namespace vmmu::shadow {

constexpr uint32_t kNoPage = UINT32_MAX;

// What the hypervisor did, named after KVM's counters where KVM has one.
struct ShadowStats {
    uint64_t pf_fixed = 0;   // hidden faults fixed by filling shadow entries
    uint64_t pf_guest = 0;   // guest #PFs reflected
    uint64_t pf_emulate = 0; // guest page-table writes emulated
    uint64_t invlpg = 0;
    uint64_t tlb_flush = 0;         // flushes the hypervisor requested after changing sptes
    uint64_t mmu_pte_write = 0;     // emulated writes that updated shadow entries
    uint64_t mmu_flooded = 0;       // shadow pages zapped by write-flood detection
    uint64_t mmu_unsync = 0;        // shadow pages marked unsync
    uint64_t mmu_resync = 0;        // unsync shadow pages brought back in sync
    uint64_t mmu_shadow_zapped = 0; // shadow pages zapped, for any reason
    uint64_t mmu_cache_miss = 0;    // shadow pages created (not found for a guest table)
    uint64_t budget_zapped = 0;     // of which: zapped to stay within the page budget
    uint64_t root_cache_hits = 0, root_cache_misses = 0;
    uint64_t root_reloads = 0;   // current root zapped under the guest and rebuilt
    uint64_t root_evictions = 0; // cached roots pushed out of the root cache and zapped
    uint64_t shadow_pages_peak = 0;
    uint64_t hv_guest_pte_reads = 0; // guest entries read by the hypervisor
    uint64_t large_mappings = 0;     // 2M/1G shadow leaves installed
    uint64_t large_splits = 0;       // guest large pages shadowed with smaller pages
    uint64_t large_zapped = 0;       // large shadow leaves dropped for a newly protected frame
};

struct ShadowPage {
    std::array<uint64_t, 512> spt{};
    GuestPhys gfn; // guest table frame; direct: base of the split guest range
    int level = 0; // 5 or 4 .. 1
    bool direct = false;
    bool unsync = false;
    bool live = false;
    uint8_t access = 0;            // direct: leaf permission bits given to every entry
    uint32_t flood = 0;            // writes since the page was last used for translation
    uint32_t generation = 0;       // bumped on zap, so stale references to the slot are detected
    uint64_t stamp = 0;            // last use, for LRU zapping
    std::vector<uint32_t> parents; // (slot << 9 | index) of every shadow entry pointing here
};

class ShadowTables {
public:
    ShadowTables(GuestMemory& memory, const P2m& p2m, HostPhys pool_base, ShadowStats& stats);

    ShadowPage& page(uint32_t slot) { return pages_[slot]; }
    const ShadowPage& page(uint32_t slot) const { return pages_[slot]; }
    HostPhys hpa_of(uint32_t slot) const { return pool_base_ + uint64_t{slot} * kPageSize4K; }
    // The page a shadow table address, or a non-leaf spte pointing at it, names.
    uint32_t slot_of(HostPhys table) const {
        return static_cast<uint32_t>((table - pool_base_) >> kPageShift4K);
    }
    uint32_t slot_of(uint64_t spte) const { return slot_of(HostPhys(spte & x86::kPteAddrMask)); }
    bool valid(uint32_t slot, uint32_t generation) const {
        return slot < pages_.size() && pages_[slot].live && pages_[slot].generation == generation;
    }
    // Marks a page as used for translation: resets write-flood detection, refreshes LRU.
    void touch(uint32_t slot) {
        pages_[slot].flood = 0;
        pages_[slot].stamp = ++clock_;
    }

    // Non-direct page shadowing guest table `gfn` at `level`, or kNoPage.
    uint32_t find(GuestPhys gfn, int level) const;
    // Finds or creates it; creating write-protects the frame (memory->watch) and drops large
    // shadow leaves that now cover a protected frame.
    uint32_t get(GuestPhys gfn, int level);
    // Finds or creates a direct page covering guest-physical `base` at `level`.
    uint32_t get_direct(GuestPhys base, int level, uint8_t access);

    // Entry (slot, index) now points at child page `child`.
    void link(uint32_t slot, unsigned index, uint32_t child, uint64_t flags);
    // Installs a leaf entry (4K at level 1, 2M/1G with PS above) mapping guest frame `frame`.
    // Replaces what was there.
    void set_leaf(uint32_t slot, unsigned index, uint64_t spte, GuestPhys frame);
    // Clears an entry, unlinking a child page or a large leaf. Returns true if it was present.
    bool drop(uint32_t slot, unsigned index);
    // Frees a page: clears every entry pointing to it and everything it points to.
    void zap(uint32_t slot);

    // Shadow leaf for a present guest leaf entry (4K, or 2M/1G at `shift`).
    uint64_t leaf_spte(uint64_t gpte, unsigned shift) const;
    // Brings an unsync leaf page back in sync with its guest table and protects it again.
    void resync(uint32_t slot);
    // Marks every shadow page of `gfn` unsync and unprotects the frame. All must be level 1.
    void mark_unsync(GuestPhys gfn);
    // True when every page shadowing `gfn` is a leaf table (so the frame may go unsync).
    bool only_leaf_pages(GuestPhys gfn) const;
    // Pages shadowing `gfn` (any level), and whether the frame is currently unsync.
    std::vector<uint32_t> pages_of(GuestPhys gfn) const;
    bool is_unsync(GuestPhys gfn) const;
    const std::vector<uint32_t>& unsync_pages() const { return unsync_; }

    // May a 2M/1G shadow leaf map [base, base + 2^shift)? Only if no protected frame is inside.
    bool large_allowed(GuestPhys base, unsigned shift) const;

    // Memory deduplication: keep a reverse map guest frame -> 4K shadow leaves (KVM's rmap), so
    // that host_remap can find every spte of a frame the host merged or gave back.
    void enable_rmap() { rmap_on_ = true; }
    // The host remapped `gfn` (p2m already updated): large leaves covering it are dropped, 4K
    // leaves repointed at p2m(gfn), read-only while it is shared. A frame no longer shared gets
    // its write permission back only if `restore_write` (else each leaf keeps kSpteHostWp and
    // faults on its next write). Returns the 4K leaves changed.
    uint64_t host_remap(GuestPhys gfn, bool restore_write);
    // Software-available PTE bit (ignored by the MMU, SDM 4.5): "writable but for the sharing".
    static constexpr uint64_t kSpteHostWp = uint64_t{1} << 9;

    // Least recently used live page other than `keep`, or kNoPage.
    uint32_t lru_victim(uint32_t keep) const;
    uint64_t live_pages() const { return live_; }

    // Set whenever a present entry was changed or dropped: TLB and walk caches must be flushed.
    bool take_flush() {
        bool f = flush_;
        flush_ = false;
        return f;
    }

private:
    struct GfnInfo {
        std::array<uint32_t, 5> by_level{kNoPage, kNoPage, kNoPage, kNoPage, kNoPage};
        bool unsync = false;
    };
    static uint64_t direct_key(GuestPhys base, int level, uint8_t access) {
        return (base.value() >> 12) << 8 | uint64_t(level) << 4 | access;
    }
    uint32_t allocate(GuestPhys gfn, int level, bool direct, uint8_t access);
    void protect(GuestPhys gfn);
    void unprotect(GuestPhys gfn);
    void remove_parent(uint32_t child, uint32_t ref);
    void large_rmap_remove(uint64_t spte, unsigned shift, uint32_t ref);

    GuestMemory& memory_;
    const P2m& p2m_;
    HostPhys pool_base_;
    ShadowStats& stats_;
    std::deque<ShadowPage> pages_; // deque: references stay valid as the pool grows
    std::vector<uint32_t> free_;
    uint64_t live_ = 0;
    uint64_t clock_ = 0;
    bool flush_ = false;
    std::unordered_map<uint64_t, GfnInfo> gfns_;    // guest frame number -> its pages
    std::unordered_map<uint64_t, uint32_t> direct_; // direct_key -> slot
    // Protected (shadowed) guest frames per 2M and 1G region (KVM's disallow_lpage).
    std::unordered_map<uint64_t, uint32_t> protected_2m_, protected_1g_;
    // Large shadow leaves per 2M and 1G guest region (a reverse map, KVM's rmap).
    std::unordered_map<uint64_t, std::vector<uint32_t>> large_2m_, large_1g_;
    std::vector<uint32_t> unsync_;
    bool rmap_on_ = false;
    std::unordered_map<uint64_t, std::vector<uint32_t>> leaf_rmap_; // gfn -> 4K leaf entry refs
    std::unordered_map<uint32_t, uint64_t> leaf_gfn_;               // entry ref -> gfn
    void rmap_add(uint32_t ref, GuestPhys gfn);
    void rmap_remove(uint32_t ref);
};

} // namespace vmmu::shadow
