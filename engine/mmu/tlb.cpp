#include "engine/mmu/tlb.h"

#include <fmt/format.h>

#include <bit>
#include <stdexcept>

namespace vmmu {

TlbArray::TlbArray(TlbArrayGeometry geometry, uint8_t sizes) : sizes_(sizes) {
    if (geometry.entries == 0)
        return; // an absent array: every lookup misses
    if (geometry.ways == 0 || geometry.entries % geometry.ways != 0 ||
        !std::has_single_bit(geometry.sets()) || geometry.ways > 255)
        throw std::invalid_argument(fmt::format("TLB array {} entries / {} ways is not a valid "
                                                "geometry (power-of-two sets, 1..255 ways)",
                                                geometry.entries, geometry.ways));
    sets_ = geometry.sets();
    ways_ = geometry.ways;
    set_mask_ = sets_ - 1;
    // Only a present array probes anything (nshifts_ stays 0 otherwise).
    for (uint8_t shift : {12, 21, 30})
        if (holds(shift))
            shifts_[nshifts_++] = shift;
    entries_.resize(capacity());
    // Ages start as a permutation so the LRU invariant holds from the first fill.
    for (uint32_t s = 0; s < sets_; ++s)
        for (uint32_t w = 0; w < ways_; ++w)
            entries_[s * ways_ + w].age = static_cast<uint8_t>(w);
}

void TlbArray::touch(Entry *set, uint32_t way) {
    uint8_t old = set[way].age;
    for (uint32_t w = 0; w < ways_; ++w)
        if (set[w].age < old)
            ++set[w].age;
    set[way].age = 0;
}

const Translation *TlbArray::lookup(uint64_t va, uint16_t pcid, uint16_t vpid) {
    if (!ways_)
        return nullptr;
    for (unsigned shift : {12u, 21u, 30u}) {
        if (!holds(shift))
            continue;
        uint64_t vpn = va >> shift;
        Entry *set = set_for(vpn);
        for (uint32_t w = 0; w < ways_; ++w) {
            Entry &e = set[w];
            if (e.valid && e.vpn == vpn && e.t.page_shift == shift && e.vpid == vpid &&
                (e.t.global || e.pcid == pcid)) {
                touch(set, w);
                return &e.t;
            }
        }
    }
    return nullptr;
}

const Translation *TlbArray::fill(uint64_t va, const Translation &t, uint16_t pcid, uint16_t vpid) {
    if (!ways_ || !holds(t.page_shift))
        return nullptr;
    uint64_t vpn = va >> t.page_shift;
    Entry *set = set_for(vpn);
    uint32_t victim = ways_;
    for (uint32_t w = 0; w < ways_ && victim == ways_; ++w) {
        const Entry &e = set[w];
        if (e.valid && e.vpn == vpn && e.t.page_shift == t.page_shift && e.vpid == vpid &&
            (e.pcid == pcid || e.t.global))
            victim = w;
    }
    // Prefer an invalid way, else the least recently used one.
    for (uint32_t w = 0; w < ways_ && victim == ways_; ++w)
        if (!set[w].valid)
            victim = w;
    for (uint32_t w = 0; w < ways_ && victim == ways_; ++w)
        if (set[w].age == ways_ - 1)
            victim = w;
    Entry &e = set[victim];
    e.vpn = vpn;
    e.t = t;
    e.pcid = pcid;
    e.vpid = vpid;
    e.valid = true;
    touch(set, victim);
    return &e.t;
}

template <class Pred> uint64_t TlbArray::invalidate_if(Pred &&pred) {
    uint64_t dropped = 0;
    for (Entry &e : entries_)
        if (e.valid && pred(e)) {
            e.valid = false;
            ++dropped;
        }
    return dropped;
}

uint64_t TlbArray::flush_all() {
    return invalidate_if([](const Entry &) { return true; });
}

uint64_t TlbArray::flush_vpid(uint16_t vpid) {
    return invalidate_if([&](const Entry &e) { return e.vpid == vpid; });
}

uint64_t TlbArray::flush_non_global(uint16_t pcid, uint16_t vpid) {
    return invalidate_if(
        [&](const Entry &e) { return e.vpid == vpid && e.pcid == pcid && !e.t.global; });
}

uint64_t TlbArray::invalidate_page(uint64_t va, uint16_t vpid) {
    if (!ways_)
        return 0;
    uint64_t dropped = 0;
    for (unsigned shift : {12u, 21u, 30u}) {
        if (!holds(shift))
            continue;
        uint64_t vpn = va >> shift;
        Entry *set = set_for(vpn);
        for (uint32_t w = 0; w < ways_; ++w) {
            Entry &e = set[w];
            if (e.valid && e.vpn == vpn && e.t.page_shift == shift && e.vpid == vpid) {
                e.valid = false;
                ++dropped;
            }
        }
    }
    return dropped;
}

uint64_t TlbArray::valid_entries() const {
    uint64_t n = 0;
    for (const Entry &e : entries_)
        n += e.valid;
    return n;
}

TlbHierarchy::TlbHierarchy(const TlbHierarchyConfig &config, TlbCounters *counters)
    : l1i_(config.l1i, kSizeAll), l1d_4k_(config.l1d_4k, kSize4K),
      l1d_large_(config.l1d_large, kSize2M | kSize1G),
      stlb_(config.stlb, config.stlb_holds_2m ? kSize4K | kSize2M : kSize4K), counters_(counters) {}

const Translation *TlbHierarchy::lookup_stlb(uint64_t va, bool is_fetch) {
    counters_->stlb_lookups++;
    const Translation *t = stlb_.lookup(va, pcid_, vpid_);
    if (!t) {
        counters_->stlb_misses++;
        return nullptr;
    }
    // Refill the L1 from the STLB.
    TlbArray &l1 = is_fetch ? l1i_ : t->page_shift == 12 ? l1d_4k_ : l1d_large_;
    const Translation *in_l1 = l1.fill(va, *t, pcid_, vpid_);
    return in_l1 ? in_l1 : t;
}

void TlbHierarchy::fill(uint64_t va, const Translation &t, bool is_fetch) {
    stlb_.fill(va, t, pcid_, vpid_);
    TlbArray &l1 = is_fetch ? l1i_ : t.page_shift == 12 ? l1d_4k_ : l1d_large_;
    l1.fill(va, t, pcid_, vpid_);
}

void TlbHierarchy::flush_non_global(uint16_t pcid) {
    count_flush(l1i_.flush_non_global(pcid, vpid_) + l1d_4k_.flush_non_global(pcid, vpid_) +
                l1d_large_.flush_non_global(pcid, vpid_) + stlb_.flush_non_global(pcid, vpid_));
}

void TlbHierarchy::flush_all() {
    count_flush(l1i_.flush_all() + l1d_4k_.flush_all() + l1d_large_.flush_all() +
                stlb_.flush_all());
}

void TlbHierarchy::flush_vpid(uint16_t vpid) {
    count_flush(l1i_.flush_vpid(vpid) + l1d_4k_.flush_vpid(vpid) + l1d_large_.flush_vpid(vpid) +
                stlb_.flush_vpid(vpid));
}

void TlbHierarchy::invlpg(uint64_t va) {
    counters_->flushed_entries +=
        l1i_.invalidate_page(va, vpid_) + l1d_4k_.invalidate_page(va, vpid_) +
        l1d_large_.invalidate_page(va, vpid_) + stlb_.invalidate_page(va, vpid_);
}

} // namespace vmmu
