#include "engine/mmu/tlb.h"

#include <fmt/format.h>

#include <bit>
#include <stdexcept>

namespace vmmu {

template <GuestAddress In>
TlbArray<In>::TlbArray(TlbArrayGeometry geometry, uint8_t sizes) : sizes_(sizes) {
    if (geometry.entries == 0) return; // an absent array: every lookup misses
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
        if (holds(shift)) shifts_[nshifts_++] = shift;
    vpns_.assign(capacity(), 0);
    meta_.assign(capacity(), 0);
    slots_.resize(capacity());
    // A way is filled (and touched) before it is valid, so by the time a fill must choose among
    // valid ways only, each has a stamp of its own: the starting values never decide anything.
    stamps_.assign(capacity(), 0);
    mru_.assign(sets_, 0);
}

// Callers forget() the memo once they are done dropping.
template <GuestAddress In> void TlbArray<In>::drop(uint32_t i) {
    --live_[size_index(shift_of(meta_[i]))];
    meta_[i] = 0;
}

template <GuestAddress In>
const Translation* TlbArray<In>::probe(In va, uint16_t pcid, uint16_t vpid) {
    for (unsigned k = 0; k < nshifts_; ++k) {
        unsigned shift = shifts_[k];
        if (!live_[size_index(shift)]) continue;
        uint64_t vpn = va.page_number(shift);
        uint32_t set = set_of(vpn), base = set * ways_, want = meta_of(shift, vpid);
        const uint64_t* vpns = &vpns_[base];
        const uint32_t* meta = &meta_[base];
        for (uint32_t w = 0; w < ways_; ++w) {
            if (vpns[w] != vpn || meta[w] != want) continue;
            Slot& e = slots_[base + w];
            if (e.t.global || e.pcid == pcid) {
                touch(set, w);
                remember(va, pcid, vpid, set, w);
                return &e.t;
            }
        }
    }
    remember(va, pcid, vpid, 0, kNoWay);
    return nullptr;
}

template <GuestAddress In>
const Translation* TlbArray<In>::fill(In va, const Translation& t, uint16_t pcid, uint16_t vpid) {
    if (!ways_ || !holds(t.page_shift)) return nullptr;
    forget();
    uint64_t vpn = va.page_number(t.page_shift);
    uint32_t set = set_of(vpn), base = set * ways_, want = meta_of(t.page_shift, vpid);
    // One pass: an entry for the same page is replaced; else the first invalid way, else the
    // least recently used one.
    uint32_t victim = ways_, invalid = ways_, lru = 0;
    uint64_t oldest = UINT64_MAX;
    for (uint32_t w = 0; w < ways_; ++w) {
        uint32_t m = meta_[base + w];
        if (m == want && vpns_[base + w] == vpn &&
            (slots_[base + w].pcid == pcid || slots_[base + w].t.global)) {
            victim = w;
            break;
        }
        if (!m) {
            if (invalid == ways_) invalid = w;
        } else if (stamps_[base + w] < oldest) {
            oldest = stamps_[base + w];
            lru = w;
        }
    }
    if (victim == ways_) victim = invalid != ways_ ? invalid : lru;
    uint32_t i = base + victim;
    if (meta_[i]) drop(i);
    vpns_[i] = vpn;
    meta_[i] = want;
    ++live_[size_index(t.page_shift)];
    slots_[i] = {t, pcid};
    touch(set, victim);
    return &slots_[i].t;
}

template <GuestAddress In> template <class Pred> uint64_t TlbArray<In>::invalidate_if(Pred&& pred) {
    uint64_t dropped = 0;
    for (uint32_t i = 0; i < meta_.size(); ++i)
        if (meta_[i] && pred(i)) {
            drop(i);
            ++dropped;
        }
    if (dropped) forget();
    return dropped;
}

template <GuestAddress In> uint64_t TlbArray<In>::flush_all() {
    return invalidate_if([](uint32_t) { return true; });
}

template <GuestAddress In> uint64_t TlbArray<In>::flush_vpid(uint16_t vpid) {
    return invalidate_if([&](uint32_t i) { return vpid_of(meta_[i]) == vpid; });
}

template <GuestAddress In> uint64_t TlbArray<In>::flush_non_global(uint16_t pcid, uint16_t vpid) {
    return invalidate_if([&](uint32_t i) {
        return vpid_of(meta_[i]) == vpid && slots_[i].pcid == pcid && !slots_[i].t.global;
    });
}

template <GuestAddress In> uint64_t TlbArray<In>::invalidate_page(In va, uint16_t vpid) {
    uint64_t dropped = 0;
    for (unsigned k = 0; k < nshifts_; ++k) {
        unsigned shift = shifts_[k];
        if (!live_[size_index(shift)]) continue;
        uint64_t vpn = va.page_number(shift);
        uint32_t base = set_of(vpn) * ways_, want = meta_of(shift, vpid);
        for (uint32_t w = 0; w < ways_; ++w)
            if (meta_[base + w] == want && vpns_[base + w] == vpn) {
                drop(base + w);
                ++dropped;
            }
    }
    if (dropped) forget();
    return dropped;
}

template <GuestAddress In> uint64_t TlbArray<In>::valid_entries() const {
    return uint64_t{live_[0]} + live_[1] + live_[2];
}

template class TlbArray<GuestVirt>;
template class TlbArray<GuestPhys>;

TlbHierarchy::TlbHierarchy(const TlbHierarchyConfig& config, TlbCounters* counters)
    : l1i_(config.l1i, kSizeAll), l1d_4k_(config.l1d_4k, kSize4K),
      l1d_large_(config.l1d_large, kSize2M | kSize1G),
      stlb_(config.stlb, config.stlb_holds_2m ? kSize4K | kSize2M : kSize4K), counters_(counters) {}

const Translation* TlbHierarchy::lookup_stlb(GuestVirt va, bool is_fetch) {
    counters_->stlb_lookups++;
    const Translation* t = stlb_.lookup(va, pcid_, vpid_);
    if (!t) {
        counters_->stlb_misses++;
        return nullptr;
    }
    // Refill the L1 from the STLB.
    GuestTlbArray& l1 = is_fetch ? l1i_ : t->page_shift == 12 ? l1d_4k_ : l1d_large_;
    const Translation* in_l1 = l1.fill(va, *t, pcid_, vpid_);
    return in_l1 ? in_l1 : t;
}

void TlbHierarchy::fill(GuestVirt va, const Translation& t, bool is_fetch) {
    stlb_.fill(va, t, pcid_, vpid_);
    GuestTlbArray& l1 = is_fetch ? l1i_ : t.page_shift == 12 ? l1d_4k_ : l1d_large_;
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

void TlbHierarchy::invlpg(GuestVirt va) {
    counters_->flushed_entries +=
        l1i_.invalidate_page(va, vpid_) + l1d_4k_.invalidate_page(va, vpid_) +
        l1d_large_.invalidate_page(va, vpid_) + stlb_.invalidate_page(va, vpid_);
}

} // namespace vmmu
