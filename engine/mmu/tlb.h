// TLB model: set-associative LRU arrays and the per-backend hierarchy (L1 i/d + unified STLB).
//
// Entries are tagged by (virtual page number at the entry's page size, PCID, VPID) and carry
// the translation result (host frame, page shift, W/U/NX). Global entries match every PCID.
// Lookups allocate nothing and call nothing virtual: they run on every guest data access.
// An array is typed by what it translates: a gVA (the TLB proper) or a gPA (slat's nested TLB);
// either way it yields a host-physical frame.
#pragma once

#include "engine/core/addr.h"
#include "engine/mmu/counters.h"

#include <concepts>
#include <cstdint>
#include <vector>

namespace vmmu {

// What a TLB translates from: a gVA, or (slat's nested TLB) a gPA; never a host address.
template <class A>
concept GuestAddress = std::same_as<A, GuestVirt> || std::same_as<A, GuestPhys>;

// What a TLB entry (or a page walk) yields: the host frame of a page of 2^page_shift bytes.
struct Translation {
    HostPhys frame; // base of the page (low page_shift bits zero)
    uint8_t page_shift = 12;
    bool writable = true;
    bool user = true;
    bool nx = false;
    bool global = false;
    // The host address of `in` (a gVA, or a gPA in the nested TLB) within this page.
    HostPhys host(GuestAddress auto in) const {
        return HostPhys(frame.value() | in.page_offset(page_shift));
    }
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

// One set-associative array with true LRU: each way keeps the array-wide time of its last use,
// the least recently used way of a set has the smallest, and each set remembers its most recent
// way (so a hit costs two stores, whatever the associativity). `In` is the address space it
// translates from: GuestVirt, or GuestPhys for a nested TLB (instantiated for both in tlb.cpp).
template <GuestAddress In> class TlbArray {
public:
    TlbArray() = default;
    TlbArray(TlbArrayGeometry geometry, uint8_t sizes);

    bool enabled() const { return ways_ != 0; }
    bool holds(unsigned shift) const { return (sizes_ & page_size_bit(shift)) != 0; }
    uint32_t capacity() const { return sets_ * ways_; }

    // Probes every page size the array holds; on a hit refreshes LRU and returns the entry.
    const Translation* lookup(In va, uint16_t pcid, uint16_t vpid) {
        Recall r = recall(va, context_tag(pcid, vpid));
        return r.known ? r.t : probe(va, pcid, vpid);
    }
    // What lookup() would return, when the memo below knows it without probing (known): the
    // entry of a hit whose touch() would change nothing, or nullptr for a miss.
    struct Recall {
        bool known;
        const Translation* t;
    };
    // `tag` is context_tag(PCID, VPID) (TlbHierarchy keeps it precomputed).
    Recall recall(In va, uint32_t tag) const {
        uint64_t page = va.page_number();
        const Memo& m = memo_[page & (kMemoEntries - 1)];
        if (m.page != page || m.tag != tag) return {false, nullptr};
        return {!m.t || *m.mru == m.way, m.t};
    }
    // The memo's tag of a (PCID, VPID) context.
    static uint32_t context_tag(uint16_t pcid, uint16_t vpid) {
        return (uint32_t{pcid} << 16) | vpid;
    }
    // Inserts (replacing an existing entry for the same page, else the LRU way); returns the
    // stored entry, or nullptr when the array does not hold that page size.
    const Translation* fill(In va, const Translation& t, uint16_t pcid, uint16_t vpid);

    // Invalidation; each returns the number of entries dropped.
    uint64_t flush_all();
    uint64_t flush_vpid(uint16_t vpid);
    uint64_t flush_non_global(uint16_t pcid, uint16_t vpid);
    uint64_t invalidate_page(In va, uint16_t vpid); // every size, every PCID, globals too
    uint64_t valid_entries() const;

private:
    // Structure of arrays: a probe reads only the dense tag arrays (vpns_, meta_) of one set;
    // the translation, PCID and LRU stamp are touched on a tag match only.
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
    static unsigned size_index(unsigned shift) { return (shift > 12) + (shift > 21); }
    uint32_t set_of(uint64_t vpn) const { return static_cast<uint32_t>(vpn & set_mask_); }
    // The way becomes its set's most recently used.
    void touch(uint32_t set, uint32_t way) {
        stamps_[set * ways_ + way] = ++clock_;
        mru_[set] = static_cast<uint8_t>(way);
    }
    void drop(uint32_t i);
    template <class Pred> uint64_t invalidate_if(Pred&& pred);

    // Recent probe results, to answer a repeat without probing: a small direct-mapped table by 4K
    // page of (page, PCID and VPID) -> the entry the probe found, or a miss. The table is
    // forgotten whenever the array's contents change (a fill, an invalidation that dropped
    // something), so a full probe would return the same slot or miss again; a hit
    // is answered only while its slot is still the most recent way of its set, so touch() would
    // change no order. Counters, LRU order and results are exactly those of the full probe; what
    // it saves is the probe when accesses alternate between a few pages, and the 4K array's
    // probe before every hit in the large-page array.
    static constexpr uint32_t kMemoEntries = 16;
    static constexpr uint32_t kNoWay = UINT32_MAX;
    struct Memo {
        uint64_t page = UINT64_MAX;
        uint32_t tag = 0;
        uint8_t way = 0;                // t's way
        const Translation* t = nullptr; // nullptr: the probe missed
        const uint8_t* mru = nullptr;   // the most recent way of t's set
    };
    // Entries point into slots_ and mru_: a moved array keeps them (vectors move their
    // buffers), a copied one starts with an empty memo.
    struct MemoTable {
        Memo entries[kMemoEntries];
        MemoTable() = default;
        MemoTable(const MemoTable&) {}
        MemoTable& operator=(const MemoTable&) {
            *this = MemoTable();
            return *this;
        }
        MemoTable(MemoTable&&) = default;
        MemoTable& operator=(MemoTable&&) = default;
        Memo& operator[](uint64_t i) { return entries[i]; }
        const Memo& operator[](uint64_t i) const { return entries[i]; }
    };
    MemoTable memo_;
    void remember(In va, uint16_t pcid, uint16_t vpid, uint32_t set, uint32_t way) {
        uint64_t page = va.page_number();
        memo_[page & (kMemoEntries - 1)] =
            way == kNoWay ? Memo{page, context_tag(pcid, vpid), 0, nullptr, nullptr}
                          : Memo{page, context_tag(pcid, vpid), static_cast<uint8_t>(way),
                                 &slots_[set * ways_ + way].t, &mru_[set]};
    }
    void forget() {
        for (Memo& m : memo_.entries) m.page = UINT64_MAX;
    }
    const Translation* probe(In va, uint16_t pcid, uint16_t vpid);

    std::vector<uint64_t> vpns_; // tags: page numbers at each entry's page size
    std::vector<uint32_t> meta_;
    std::vector<uint64_t> stamps_; // per way: clock_ at its last use
    std::vector<uint8_t> mru_;     // per set: its most recently used way
    uint64_t clock_ = 0;
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

// The TLB proper (gVA -> hPA) and slat's nested TLB (gPA -> hPA).
using GuestTlbArray = TlbArray<GuestVirt>;
using NestedTlbArray = TlbArray<GuestPhys>;

struct TlbHierarchyConfig {
    TlbArrayGeometry l1i, l1d_4k, l1d_large, stlb;
    bool stlb_holds_2m = false;
};

// The TLBs of one modelled core. Lookup order: L1 (i or d) then STLB; a miss in both means the
// caller walks and then calls fill(). Counts into the TlbCounters it was given.
class TlbHierarchy {
public:
    TlbHierarchy(const TlbHierarchyConfig& config, TlbCounters* counters);

    // Tags used by lookups and fills from now on (CR3's PCID, the VM's VPID).
    void set_context(uint16_t pcid, uint16_t vpid) {
        pcid_ = pcid;
        vpid_ = vpid;
        tag_ = GuestTlbArray::context_tag(pcid, vpid);
    }
    uint16_t pcid() const { return pcid_; }
    uint16_t vpid() const { return vpid_; }

    // lookup()'s result when the L1 arrays' memos know it is an L1 hit, counted as lookup()
    // counts it; nullptr otherwise, and then the caller calls lookup() (which counts). Small
    // enough to inline into each backend's hit path.
    const Translation* recall(GuestVirt va, bool is_fetch) {
        const Translation* t = known_hit(va, is_fetch);
        if (t) count_l1_hits(is_fetch, 1);
        return t;
    }
    // The entry of an L1 hit the memos know, as recall() finds it but not counted: a lookup
    // then would change nothing but the count (count_l1_hits). nullptr when they do not know one.
    const Translation* known_hit(GuestVirt va, bool is_fetch) const {
        if (is_fetch) {
            GuestTlbArray::Recall r = l1i_.recall(va, tag_);
            return r.known ? r.t : nullptr;
        }
        GuestTlbArray::Recall r = l1d_4k_.recall(va, tag_);
        if (r.known && !r.t) // a large page: lookup() goes on to the large array
            r = l1d_large_.recall(va, tag_);
        return r.known ? r.t : nullptr;
    }
    void count_l1_hits(bool is_fetch, uint64_t n) {
        (is_fetch ? counters_->l1i_lookups : counters_->l1d_lookups) += n;
    }

    // nullptr on a miss in every level.
    const Translation* lookup(GuestVirt va, bool is_fetch) {
        GuestTlbArray& l1 = is_fetch ? l1i_ : l1d_4k_;
        (is_fetch ? counters_->l1i_lookups : counters_->l1d_lookups)++;
        if (const Translation* t = l1.lookup(va, pcid_, vpid_)) return t;
        if (!is_fetch)
            if (const Translation* t = l1d_large_.lookup(va, pcid_, vpid_)) return t;
        (is_fetch ? counters_->l1i_misses : counters_->l1d_misses)++;
        return lookup_stlb(va, is_fetch);
    }
    // After a walk: installs the translation in the STLB (if it holds that size) and the L1.
    void fill(GuestVirt va, const Translation& t, bool is_fetch);

    // CR3 write without PCID (or with PCID and bit 63 clear): non-global entries of `pcid`.
    void flush_non_global(uint16_t pcid);
    // Everything, every VPID (VM entry/exit without VPID, CR4.PGE toggle with VPID 0).
    void flush_all();
    // INVLPG: every page size covering va, every PCID of the current VPID (SDM 4.10.4.1).
    void invlpg(GuestVirt va);
    // INVVPID single-context, or CR4.PGE toggle inside a VM: all entries of one VPID.
    void flush_vpid(uint16_t vpid);

private:
    const Translation* lookup_stlb(GuestVirt va, bool is_fetch);
    void count_flush(uint64_t dropped) {
        counters_->flushes++;
        counters_->flushed_entries += dropped;
    }

    GuestTlbArray l1i_, l1d_4k_, l1d_large_, stlb_;
    TlbCounters* counters_;
    uint16_t pcid_ = 0;
    uint16_t vpid_ = 0;
    uint32_t tag_ = 0; // GuestTlbArray::context_tag(pcid_, vpid_)
};

} // namespace vmmu
