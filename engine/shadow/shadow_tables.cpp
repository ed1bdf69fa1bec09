#include "engine/shadow/shadow_tables.h"

#include <algorithm>
#include <stdexcept>

namespace vmmu::shadow {
namespace {

using namespace vmmu::x86;

// Permission and memory-type bits a shadow leaf copies from the guest leaf.
constexpr uint64_t kLeafFlags = kPteP | kPteW | kPteU | kPtePwt | kPtePcd | kPteG | kPteNx;

bool is_large_leaf(int level, uint64_t e) { return level > 1 && (e & kPtePs); }

uint32_t entry_ref(uint32_t slot, unsigned index) { return slot << 9 | index; }

} // namespace

ShadowTables::ShadowTables(GuestMemory& memory, const P2m& p2m, HostPhys pool_base,
                           ShadowStats& stats)
    : memory_(memory), p2m_(p2m), pool_base_(pool_base), stats_(stats) {}

uint32_t ShadowTables::find(GuestPhys gfn, int level) const {
    auto it = gfns_.find(gfn.page_number());
    return it == gfns_.end() ? kNoPage : it->second.by_level[level - 1];
}

std::vector<uint32_t> ShadowTables::pages_of(GuestPhys gfn) const {
    std::vector<uint32_t> out;
    auto it = gfns_.find(gfn.page_number());
    if (it == gfns_.end()) return out;
    for (uint32_t s : it->second.by_level)
        if (s != kNoPage) out.push_back(s);
    return out;
}

bool ShadowTables::is_unsync(GuestPhys gfn) const {
    auto it = gfns_.find(gfn.page_number());
    return it != gfns_.end() && it->second.unsync;
}

bool ShadowTables::only_leaf_pages(GuestPhys gfn) const {
    auto it = gfns_.find(gfn.page_number());
    if (it == gfns_.end()) return false;
    const auto& l = it->second.by_level;
    return l[0] != kNoPage &&
           std::all_of(l.begin() + 1, l.end(), [](uint32_t s) { return s == kNoPage; });
}

uint32_t ShadowTables::allocate(GuestPhys gfn, int level, bool direct, uint8_t access) {
    uint32_t slot;
    if (!free_.empty()) {
        slot = free_.back();
        free_.pop_back();
    } else {
        slot = static_cast<uint32_t>(pages_.size());
        if (slot >= (1u << 23)) throw std::length_error("shadow page pool exhausted");
        pages_.emplace_back();
    }
    ShadowPage& sp = pages_[slot];
    sp.spt.fill(0);
    sp.gfn = gfn;
    sp.level = level;
    sp.direct = direct;
    sp.unsync = false;
    sp.live = true;
    sp.access = access;
    sp.flood = 0;
    sp.stamp = ++clock_;
    sp.parents.clear();
    ++live_;
    ++stats_.mmu_cache_miss;
    stats_.shadow_pages_peak = std::max(stats_.shadow_pages_peak, live_);
    return slot;
}

uint32_t ShadowTables::get(GuestPhys gfn, int level) {
    gfn = gfn.page_base();
    auto [it, inserted] = gfns_.try_emplace(gfn.page_number());
    if (!inserted && it->second.by_level[level - 1] != kNoPage)
        return it->second.by_level[level - 1];
    // A frame shadowed at a new level may no longer stay unsync (only leaf tables may).
    if (it->second.unsync && level != 1) resync(it->second.by_level[0]);
    uint32_t slot = allocate(gfn, level, false, 0);
    it->second.by_level[level - 1] = slot;
    if (inserted) protect(gfn);
    return slot;
}

uint32_t ShadowTables::get_direct(GuestPhys base, int level, uint8_t access) {
    uint64_t key = direct_key(base, level, access);
    auto it = direct_.find(key);
    if (it != direct_.end()) return it->second;
    uint32_t slot = allocate(base, level, true, access);
    direct_.emplace(key, slot);
    return slot;
}

void ShadowTables::protect(GuestPhys gfn) {
    memory_.watch(gfn);
    ++protected_2m_[gfn.page_number(kPageShift2M)];
    ++protected_1g_[gfn.page_number(kPageShift1G)];
    // A large shadow leaf may not cover a write-protected frame (KVM drops such large sptes).
    for (auto* rmap : {&large_2m_, &large_1g_}) {
        unsigned shift = rmap == &large_2m_ ? kPageShift2M : kPageShift1G;
        auto it = rmap->find(gfn.page_number(shift));
        if (it == rmap->end()) continue;
        std::vector<uint32_t> refs = it->second;
        for (uint32_t ref : refs) {
            drop(ref >> 9, ref & 511);
            ++stats_.large_zapped;
        }
    }
}

void ShadowTables::unprotect(GuestPhys gfn) {
    auto dec = [](std::unordered_map<uint64_t, uint32_t>& m, uint64_t key) {
        auto it = m.find(key);
        if (it != m.end() && --it->second == 0) m.erase(it);
    };
    dec(protected_2m_, gfn.page_number(kPageShift2M));
    dec(protected_1g_, gfn.page_number(kPageShift1G));
}

bool ShadowTables::large_allowed(GuestPhys base, unsigned shift) const {
    const auto& m = shift == kPageShift2M ? protected_2m_ : protected_1g_;
    // A large leaf maps host-contiguous memory: none of its frames may be remapped (dedup).
    return m.find(base.page_number(shift)) == m.end() && p2m_.contiguous(base, shift);
}

void ShadowTables::rmap_add(uint32_t ref, GuestPhys gfn) {
    leaf_rmap_[gfn.page_number()].push_back(ref);
    leaf_gfn_[ref] = gfn.page_number();
}

void ShadowTables::rmap_remove(uint32_t ref) {
    auto g = leaf_gfn_.find(ref);
    if (g == leaf_gfn_.end()) return;
    auto it = leaf_rmap_.find(g->second);
    leaf_gfn_.erase(g);
    if (it == leaf_rmap_.end()) return;
    auto& v = it->second;
    auto pos = std::find(v.begin(), v.end(), ref);
    if (pos != v.end()) {
        *pos = v.back();
        v.pop_back();
    }
    if (v.empty()) leaf_rmap_.erase(it);
}

uint64_t ShadowTables::host_remap(GuestPhys gfn, bool restore_write) {
    gfn = gfn.page_base();
    // Large leaves over the frame can no longer map host-contiguous memory: drop them.
    for (auto* rmap : {&large_2m_, &large_1g_}) {
        unsigned shift = rmap == &large_2m_ ? kPageShift2M : kPageShift1G;
        auto it = rmap->find(gfn.page_number(shift));
        if (it == rmap->end()) continue;
        std::vector<uint32_t> refs = it->second;
        for (uint32_t ref : refs) drop(ref >> 9, ref & 511);
    }
    auto it = leaf_rmap_.find(gfn.page_number());
    if (it == leaf_rmap_.end()) return 0;
    uint64_t frame = p2m_.translate(gfn).value();
    bool shared = p2m_.shared(gfn);
    for (uint32_t ref : it->second) {
        uint64_t& e = pages_[ref >> 9].spt[ref & 511];
        bool writable = (e & kPteW) || (e & kSpteHostWp);
        e = (e & ~(kPteAddrMask | kPteW | kSpteHostWp)) | frame;
        if (writable) e |= shared || !restore_write ? kSpteHostWp : kPteW;
    }
    flush_ = true;
    return it->second.size();
}

void ShadowTables::link(uint32_t slot, unsigned index, uint32_t child, uint64_t flags) {
    uint64_t& e = pages_[slot].spt[index];
    if (e & kPteP) drop(slot, index);
    e = hpa_of(child).value() | kPteP | (flags & (kPteW | kPteU | kPteNx));
    pages_[child].parents.push_back(entry_ref(slot, index));
}

uint64_t ShadowTables::leaf_spte(uint64_t gpte, unsigned shift) const {
    GuestPhys frame(gpte & kPteAddrMask & ~((uint64_t{1} << shift) - 1));
    uint64_t spte = p2m_.translate(frame).value() | (gpte & kLeafFlags);
    // A frame the host shares is mapped read-only: a guest write faults to the hypervisor.
    if (shift == kPageShift4K && (spte & kPteW) && p2m_.shared(frame))
        spte = (spte & ~kPteW) | kSpteHostWp;
    return shift > kPageShift4K ? spte | kPtePs : spte;
}

void ShadowTables::set_leaf(uint32_t slot, unsigned index, uint64_t spte, GuestPhys frame) {
    ShadowPage& sp = pages_[slot];
    if (sp.spt[index] == spte) return;
    if (sp.spt[index] & kPteP) drop(slot, index);
    sp.spt[index] = spte;
    if (rmap_on_ && sp.level == 1) rmap_add(entry_ref(slot, index), frame);
    if (!is_large_leaf(sp.level, spte)) return;
    // p2m is one contiguous range (p2m.h), so the guest region of a host frame is known.
    GuestPhys gpa(HostPhys(spte & kPteAddrMask) - p2m_.base());
    auto& rmap = sp.level == 2 ? large_2m_ : large_1g_;
    rmap[gpa.page_number(leaf_shift(sp.level))].push_back(entry_ref(slot, index));
    ++stats_.large_mappings;
}

void ShadowTables::large_rmap_remove(uint64_t spte, unsigned shift, uint32_t ref) {
    auto& rmap = shift == kPageShift2M ? large_2m_ : large_1g_;
    GuestPhys gpa(HostPhys(spte & kPteAddrMask) - p2m_.base());
    auto it = rmap.find(gpa.page_number(shift));
    if (it == rmap.end()) return;
    auto& v = it->second;
    auto pos = std::find(v.begin(), v.end(), ref);
    if (pos != v.end()) {
        *pos = v.back();
        v.pop_back();
    }
    if (v.empty()) rmap.erase(it);
}

void ShadowTables::remove_parent(uint32_t child, uint32_t ref) {
    auto& v = pages_[child].parents;
    auto pos = std::find(v.begin(), v.end(), ref);
    if (pos != v.end()) {
        *pos = v.back();
        v.pop_back();
    }
}

bool ShadowTables::drop(uint32_t slot, unsigned index) {
    ShadowPage& sp = pages_[slot];
    uint64_t e = sp.spt[index];
    if (!(e & kPteP)) return false;
    sp.spt[index] = 0;
    flush_ = true;
    if (is_large_leaf(sp.level, e))
        large_rmap_remove(e, leaf_shift(sp.level), entry_ref(slot, index));
    else if (rmap_on_ && sp.level == 1)
        rmap_remove(entry_ref(slot, index));
    else if (sp.level > 1)
        remove_parent(slot_of(e), entry_ref(slot, index));
    return true;
}

void ShadowTables::zap(uint32_t slot) {
    ShadowPage& sp = pages_[slot];
    if (!sp.live) return;
    for (uint32_t ref : sp.parents) {
        pages_[ref >> 9].spt[ref & 511] = 0;
        flush_ = true;
    }
    sp.parents.clear();
    for (unsigned i = 0; i < 512; ++i) drop(slot, i);
    if (sp.unsync) {
        unsync_.erase(std::find(unsync_.begin(), unsync_.end(), slot));
        sp.unsync = false;
    }
    if (sp.direct) {
        direct_.erase(direct_key(sp.gfn, sp.level, sp.access));
    } else {
        auto it = gfns_.find(sp.gfn.page_number());
        it->second.by_level[sp.level - 1] = kNoPage;
        const auto& l = it->second.by_level;
        if (std::all_of(l.begin(), l.end(), [](uint32_t s) { return s == kNoPage; })) {
            if (!it->second.unsync) memory_.unwatch(sp.gfn);
            unprotect(sp.gfn);
            gfns_.erase(it);
        }
    }
    sp.live = false;
    ++sp.generation;
    free_.push_back(slot);
    --live_;
    ++stats_.mmu_shadow_zapped;
}

void ShadowTables::mark_unsync(GuestPhys gfn) {
    auto& info = gfns_.at(gfn.page_number());
    if (info.unsync) return;
    uint32_t slot = info.by_level[0];
    pages_[slot].unsync = true;
    unsync_.push_back(slot);
    info.unsync = true;
    // The frame is no longer write-protected: the guest writes it without exits.
    memory_.unwatch(gfn);
    ++stats_.mmu_unsync;
}

void ShadowTables::resync(uint32_t slot) {
    ShadowPage& sp = pages_[slot];
    if (!sp.live || !sp.unsync) return;
    // Only entries the shadow holds can be stale; absent ones fault in on use.
    for (unsigned i = 0; i < 512; ++i) {
        if (!(sp.spt[i] & kPteP)) continue;
        uint64_t g = memory_.read_u64(sp.gfn + 8ull * i);
        ++stats_.hv_guest_pte_reads;
        uint64_t want = (g & kPteP) ? leaf_spte(g, kPageShift4K) : 0;
        if (sp.spt[i] != want) {
            if (rmap_on_) {
                rmap_remove(entry_ref(slot, i));
                if (want) rmap_add(entry_ref(slot, i), GuestPhys(g & kPteAddrMask));
            }
            sp.spt[i] = want;
            flush_ = true;
        }
    }
    sp.unsync = false;
    unsync_.erase(std::find(unsync_.begin(), unsync_.end(), slot));
    gfns_.at(sp.gfn.page_number()).unsync = false;
    memory_.watch(sp.gfn);
    ++stats_.mmu_resync;
}

uint32_t ShadowTables::lru_victim(uint32_t keep) const {
    uint32_t best = kNoPage;
    uint64_t best_stamp = UINT64_MAX;
    for (uint32_t s = 0; s < pages_.size(); ++s) {
        const ShadowPage& sp = pages_[s];
        if (!sp.live || s == keep || sp.stamp >= best_stamp) continue;
        best = s;
        best_stamp = sp.stamp;
    }
    return best;
}

} // namespace vmmu::shadow
