// TLB model: set-associative LRU arrays and the per-backend hierarchy (L1 i/d + unified STLB).
//
// Entries are tagged by (virtual page number at the entry's page size, PCID, VPID) and carry
// the translation result (host frame, page shift, W/U/NX). Global entries match every PCID.
// Lookups allocate nothing and call nothing virtual: they run on every guest data access.
#pragma once

#include "engine/mmu/counters.h"

#include <cstdint>
#include <vector>

namespace vmmu {

// What a TLB entry (or a page walk) yields: the host frame of a page of 2^page_shift bytes.
struct Translation {
    uint64_t frame = 0; // host-physical base of the page (low page_shift bits zero)
    uint8_t page_shift = 12;
    bool writable = true;
    bool user = true;
    bool nx = false;
    bool global = false;
    uint64_t host(uint64_t va) const { return frame | (va & ((uint64_t{1} << page_shift) - 1)); }
};

// entries = sets × ways; sets must be a power of two (index = vpn bits).
struct TlbArrayGeometry {
    uint32_t entries = 0;
    uint32_t ways = 0;
    uint32_t sets() const { return ways ? entries / ways : 0; }
};

// Bit set of page shifts an array holds.
enum PageSizeMask : uint8_t { kSize4K = 1, kSize2M = 2, kSize1G = 4, kSizeAll = 7 };
constexpr uint8_t page_size_bit(unsigned shift) {
    return shift == 12 ? kSize4K : shift == 21 ? kSize2M : kSize1G;
}

// One set-associative array with true LRU kept as small per-way ages (0 = most recent).
class TlbArray {
  public:
    TlbArray() = default;
    TlbArray(TlbArrayGeometry geometry, uint8_t sizes);

    bool enabled() const { return ways_ != 0; }
    bool holds(unsigned shift) const { return (sizes_ & page_size_bit(shift)) != 0; }
    uint32_t capacity() const { return sets_ * ways_; }

    // Probes every page size the array holds; on a hit refreshes LRU and returns the entry.
    const Translation *lookup(uint64_t va, uint16_t pcid, uint16_t vpid) {
        uint64_t page = va >> 12;
        uint32_t tag = context_tag(pcid, vpid);
        if (last_slot_ != kNoHit && page == last_page_ && tag == last_tag_ && ages_[last_slot_] == 0)
            return &slots_[last_slot_].t;
        if (page == miss_page_ && tag == miss_tag_)
            return nullptr;
        return probe(va, pcid, vpid);
    }
    // Inserts (replacing an existing entry for the same page, else the LRU way); returns the
    // stored entry, or nullptr when the array does not hold that page size.
    const Translation *fill(uint64_t va, const Translation &t, uint16_t pcid, uint16_t vpid);

    // Invalidation; each returns the number of entries dropped.
    uint64_t flush_all();
    uint64_t flush_vpid(uint16_t vpid);
    uint64_t flush_non_global(uint16_t pcid, uint16_t vpid);
    uint64_t invalidate_page(uint64_t va, uint16_t vpid); // every size, every PCID, globals too
    uint64_t valid_entries() const;

  private:
    // Structure of arrays: a probe reads only the dense tag arrays (vpns_, meta_) of one set;
    // the translation, PCID and LRU age are touched on a tag match only.
    struct Slot {
        Translation t;
        uint16_t pcid = 0;
    };
    // meta_: 0 = invalid, else valid bit | page shift | VPID, so one compare checks all three.
    static uint32_t meta_of(unsigned shift, uint16_t vpid) {
        return (uint32_t{1} << 31) | (shift << 16) | vpid;
    }
    static unsigned shift_of(uint32_t meta) { return (meta >> 16) & 0xff; }
    static uint16_t vpid_of(uint32_t meta) { return static_cast<uint16_t>(meta); }
    // live_ index of a page shift (12, 21, 30 -> 0, 1, 2).
    static unsigned size_index(unsigned shift) { return (shift - 12) / 9; }
    uint32_t set_base(uint64_t vpn) const { return static_cast<uint32_t>(vpn & set_mask_) * ways_; }
    void touch(uint32_t base, uint32_t way);
    void drop(uint32_t i);
    template <class Pred> uint64_t invalidate_if(Pred &&pred);

    // The last hit, to answer a repeat without probing: the same 4K page, PCID and VPID as the
    // lookup that found it, its way still the most recent of its set (so touch() would change
    // nothing), and no fill or invalidation since (so a full probe would find the same slot).
    // Exactly what the probe would return, at a few compares; reset by every change of contents.
    static constexpr uint32_t kNoHit = UINT32_MAX;
    static uint32_t context_tag(uint16_t pcid, uint16_t vpid) {
        return (uint32_t{pcid} << 16) | vpid;
    }
    uint32_t last_slot_ = kNoHit;
    uint64_t last_page_ = 0;
    uint32_t last_tag_ = 0;
    // The last miss, likewise: the same 4K page and context misses again until the next fill
    // (invalidations only remove entries). A data access to a large page probes the 4K array
    // first; this answers that probe at two compares. kNoPage: no miss remembered.
    static constexpr uint64_t kNoPage = UINT64_MAX;
    uint64_t miss_page_ = kNoPage;
    uint32_t miss_tag_ = 0;
    const Translation *probe(uint64_t va, uint16_t pcid, uint16_t vpid);

    std::vector<uint64_t> vpns_;
    std::vector<uint32_t> meta_;
    std::vector<uint8_t> ages_; // true LRU per set, 0 = most recent
    std::vector<Slot> slots_;
    uint32_t sets_ = 0;
    uint32_t ways_ = 0;
    uint64_t set_mask_ = 0;
    uint8_t sizes_ = 0;
    uint8_t shifts_[3] = {}; // the page shifts held, probed in this order
    uint8_t nshifts_ = 0;
    // Valid entries per page size: a size with none is not probed (most runs use 4K only).
    uint32_t live_[3] = {};
};

struct TlbHierarchyConfig {
    TlbArrayGeometry l1i, l1d_4k, l1d_large, stlb;
    bool stlb_holds_2m = false;
};

// The TLBs of one modelled core. Lookup order: L1 (i or d) then STLB; a miss in both means the
// caller walks and then calls fill(). Counts into the TlbCounters it was given.
class TlbHierarchy {
  public:
    TlbHierarchy(const TlbHierarchyConfig &config, TlbCounters *counters);

    // Tags used by lookups and fills from now on (CR3's PCID, the VM's VPID).
    void set_context(uint16_t pcid, uint16_t vpid) {
        pcid_ = pcid;
        vpid_ = vpid;
    }
    uint16_t pcid() const { return pcid_; }
    uint16_t vpid() const { return vpid_; }

    // nullptr on a miss in every level.
    const Translation *lookup(uint64_t va, bool is_fetch) {
        TlbArray &l1 = is_fetch ? l1i_ : l1d_4k_;
        (is_fetch ? counters_->l1i_lookups : counters_->l1d_lookups)++;
        if (const Translation *t = l1.lookup(va, pcid_, vpid_))
            return t;
        if (!is_fetch)
            if (const Translation *t = l1d_large_.lookup(va, pcid_, vpid_))
                return t;
        (is_fetch ? counters_->l1i_misses : counters_->l1d_misses)++;
        return lookup_stlb(va, is_fetch);
    }
    // After a walk: installs the translation in the STLB (if it holds that size) and the L1.
    void fill(uint64_t va, const Translation &t, bool is_fetch);

    // CR3 write without PCID (or with PCID and bit 63 clear): non-global entries of `pcid`.
    void flush_non_global(uint16_t pcid);
    // Everything, every VPID (VM entry/exit without VPID, CR4.PGE toggle with VPID 0).
    void flush_all();
    // INVLPG: every page size covering va, every PCID of the current VPID (SDM 4.10.4.1).
    void invlpg(uint64_t va);
    // INVVPID single-context, or CR4.PGE toggle inside a VM: all entries of one VPID.
    void flush_vpid(uint16_t vpid);

  private:
    const Translation *lookup_stlb(uint64_t va, bool is_fetch);
    void count_flush(uint64_t dropped) {
        counters_->flushes++;
        counters_->flushed_entries += dropped;
    }

    TlbArray l1i_, l1d_4k_, l1d_large_, stlb_;
    TlbCounters *counters_;
    uint16_t pcid_ = 0;
    uint16_t vpid_ = 0;
};

} // namespace vmmu
