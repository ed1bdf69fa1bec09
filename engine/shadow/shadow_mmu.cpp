#include "engine/shadow/shadow_mmu.h"

#include "engine/core/paging.h"

#include <algorithm>
#include <utility>

namespace vmmu::shadow {
namespace {

using namespace vmmu::x86;

constexpr uint64_t mask_of(unsigned shift) { return (uint64_t{1} << shift) - 1; }
constexpr uint64_t kTableFlags = kPteW | kPteU | kPteNx;

// Permissions of a guest large leaf, packed into a direct page's identity (KVM role.access):
// bit 0 NX, then W, U, PWT, PCD in their own positions, bit 5 G.
uint8_t pack_access(uint64_t g) {
    return static_cast<uint8_t>((g & (kPteW | kPteU | kPtePwt | kPtePcd)) | ((g & kPteNx) ? 1 : 0) |
                                ((g & kPteG) ? 32 : 0));
}
uint64_t unpack_access(uint8_t a) {
    return kPteP | (a & (kPteW | kPteU | kPtePwt | kPtePcd)) | ((a & 1) ? kPteNx : 0) |
           ((a & 32) ? kPteG : 0);
}

} // namespace

HostPhys shadow_pool_base(const P2m& p2m, const GuestMemory& memory) {
    uint64_t end = p2m.base().value() + memory.size();
    return HostPhys(((end + mask_of(kPageShift1G)) & ~mask_of(kPageShift1G)) +
                    (uint64_t{1} << kPageShift1G));
}

ShadowMmu::ShadowMmu(GuestMemory& memory, const P2m& p2m, const ShadowOptions& options,
                     uint64_t initial_cr3, int levels)
    : memory_(memory), p2m_(p2m), levels_(levels), options_(options),
      tables_(memory, p2m, shadow_pool_base(p2m, memory), stats_), cache_(options.prev_roots) {
    root_.gfn = cr3_root(initial_cr3);
}

HostPhys ShadowMmu::root_table() {
    if (!tables_.valid(root_.slot, root_.generation)) {
        // The root was zapped (flooded or evicted) while in use: KVM reloads it.
        if (root_.slot != kNoPage) ++stats_.root_reloads;
        root_.slot = tables_.get(root_.gfn, levels_);
        root_.generation = tables_.page(root_.slot).generation;
    }
    return tables_.hpa_of(root_.slot);
}

ShadowWalk ShadowMmu::walk(GuestVirt va, int level, HostPhys table) {
    ShadowWalk w;
    uint32_t slot = tables_.slot_of(table);
    for (int l = level; l >= 1; --l) {
        tables_.touch(slot);
        uint64_t e = tables_.page(slot).spt[table_index(va, l)];
        ++w.refs;
        w.entry[l] = e;
        if (!(e & kPteP)) {
            w.fault_level = l;
            return w;
        }
        w.writable = w.writable && (e & kPteW);
        w.user = w.user && (e & kPteU);
        w.nx = w.nx || (e & kPteNx);
        if (l == 1 || (e & kPtePs)) {
            unsigned shift = leaf_shift(l);
            w.ok = true;
            w.page_shift = shift;
            w.global = e & kPteG;
            w.hpa = HostPhys(e & kPteAddrMask).page_base(shift) + va.page_offset(shift);
            return w;
        }
        slot = tables_.slot_of(e);
    }
    return w;
}

void ShadowMmu::make_pages_available() {
    // Room for one fill (up to three new tables below the root), as KVM's
    // make_mmu_pages_available keeps a few free pages before handling a fault.
    while (tables_.live_pages() + 4 > options_.page_budget) {
        uint32_t victim = tables_.lru_victim(root_.slot);
        if (victim == kNoPage) break;
        tables_.zap(victim);
        ++stats_.budget_zapped;
    }
}

bool ShadowMmu::fix_hidden_fault(GuestVirt va) {
    make_pages_available();
    uint32_t slot = tables_.slot_of(root_table());
    GuestPhys table = root_.gfn;
    for (int level = levels_; level >= 1; --level) {
        tables_.touch(slot);
        unsigned index = table_index(va, level);
        GuestPhys entry_pa = table + 8ull * index;
        if (!memory_.contains(entry_pa, 8)) return false;
        uint64_t g = memory_.read_u64(entry_pa);
        ++stats_.hv_guest_pte_reads;
        if (!(g & kPteP)) return false;
        if (level == 1) {
            tables_.set_leaf(slot, index, tables_.leaf_spte(g, kPageShift4K),
                             GuestPhys(g & kPteAddrMask));
            ++stats_.pf_fixed;
            return true;
        }
        if ((level == 2 || level == 3) && (g & kPtePs)) {
            install_large(slot, index, level, va, g);
            ++stats_.pf_fixed;
            return true;
        }
        GuestPhys child_gfn(g & kPteAddrMask);
        uint64_t e = tables_.page(slot).spt[index];
        uint32_t child = kNoPage;
        if ((e & kPteP) && !(e & kPtePs)) {
            uint32_t c = tables_.slot_of(e);
            const ShadowPage& cp = tables_.page(c);
            bool same = !cp.direct && cp.gfn == child_gfn;
            if (same && (e & kTableFlags) == (g & kTableFlags)) child = c;
        }
        if (child == kNoPage) {
            child = tables_.get(child_gfn, level - 1);
            // A table reached through a new path must be current, and so must the unsync tables
            // below it (KVM syncs the page on link, and its unsync_children before the entry).
            if (tables_.page(child).unsync)
                tables_.resync(child);
            else
                sync_under({child});
            tables_.link(slot, index, child, g);
        }
        slot = child;
        table = child_gfn;
    }
    return false;
}

void ShadowMmu::install_large(uint32_t slot, unsigned index, int level, GuestVirt va,
                              uint64_t gpte) {
    unsigned guest_shift = leaf_shift(level);
    GuestPhys gpa =
        GuestPhys(gpte & kPteAddrMask).page_base(guest_shift) + va.page_offset(guest_shift);
    uint8_t access = pack_access(gpte);
    uint64_t flags = unpack_access(access);
    for (int l = level; l > 1; --l) {
        unsigned shift = leaf_shift(l);
        GuestPhys region = gpa.page_base(shift);
        // A large shadow leaf needs an equally large guest leaf and no protected frame inside.
        if (tables_.large_allowed(region, shift)) {
            tables_.set_leaf(slot, index, tables_.leaf_spte(region.value() | flags, shift), region);
            return;
        }
        uint64_t e = tables_.page(slot).spt[index];
        uint32_t child = kNoPage;
        if ((e & kPteP) && !(e & kPtePs)) {
            uint32_t c = tables_.slot_of(e);
            const ShadowPage& cp = tables_.page(c);
            if (cp.direct && cp.gfn == region && cp.access == access) child = c;
        }
        if (child == kNoPage) {
            child = tables_.get_direct(region, l - 1, access);
            tables_.link(slot, index, child, kPteW | kPteU);
            ++stats_.large_splits;
        }
        tables_.touch(child);
        slot = child;
        index = table_index(va, l - 1);
    }
    GuestPhys frame = gpa.page_base();
    tables_.set_leaf(slot, index, tables_.leaf_spte(frame.value() | flags, kPageShift4K), frame);
}

void ShadowMmu::guest_fault(GuestVirt va) {
    ++stats_.pf_guest;
    // The hypervisor walks the guest tables to see that the fault is the guest's own.
    GuestPhys pa;
    int reads = 0;
    guest_translate(va, pa, &reads);
    stats_.hv_guest_pte_reads += static_cast<uint64_t>(reads);
}

bool ShadowMmu::guest_translate(GuestVirt va, GuestPhys& pa, int* reads) const {
    auto r = x86::walk(
        root_.gfn, va,
        [&](GuestPhys entry_pa) -> uint64_t {
            return memory_.contains(entry_pa, 8) ? memory_.read_u64(entry_pa) : 0;
        },
        levels_);
    if (reads) *reads = r.steps;
    if (r.ok) pa = r.pa;
    return r.ok;
}

PtWriteOutcome ShadowMmu::pt_write(GuestPhys pa, uint8_t size) {
    GuestPhys gfn = pa.page_base();
    std::vector<uint32_t> pages = tables_.pages_of(gfn);
    if (pages.empty()) return PtWriteOutcome::NotShadowed;
    if (tables_.is_unsync(gfn)) return PtWriteOutcome::Unsynced;
    if (options_.unsync && tables_.only_leaf_pages(gfn)) {
        // KVM mmu_try_to_unsync_pages: the faulting write then completes natively.
        tables_.mark_unsync(gfn);
        return PtWriteOutcome::WentUnsync;
    }
    ++stats_.pf_emulate;
    uint64_t offset = pa.page_offset();
    unsigned first = static_cast<unsigned>(offset / 8);
    unsigned last = static_cast<unsigned>(std::min<uint64_t>((offset + size - 1) / 8, 511));
    bool updated = false;
    for (uint32_t slot : pages) {
        ShadowPage& sp = tables_.page(slot);
        // KVM detect_write_flooding: a table written repeatedly but not used is likely no
        // longer a page table; stop shadowing it.
        if (options_.flood_threshold && ++sp.flood >= options_.flood_threshold) {
            tables_.zap(slot);
            ++stats_.mmu_flooded;
            continue;
        }
        for (unsigned i = first; i <= last; ++i) update_entry(slot, i);
        updated = true;
    }
    if (updated) ++stats_.mmu_pte_write;
    return PtWriteOutcome::Emulated;
}

void ShadowMmu::update_entry(uint32_t slot, unsigned index) {
    const ShadowPage& sp = tables_.page(slot);
    uint64_t g = memory_.read_u64(sp.gfn + 8ull * index);
    uint64_t e = sp.spt[index];
    if (!(g & kPteP)) {
        tables_.drop(slot, index);
        return;
    }
    if (sp.level == 1) {
        // Update the shadow leaf from the new guest entry instead of zapping it: the access
        // that follows needs no hidden fault (docs/ANCHORS.md: removed one of 3 exits per fault).
        tables_.set_leaf(slot, index, tables_.leaf_spte(g, kPageShift4K),
                         GuestPhys(g & kPteAddrMask));
        return;
    }
    if (!(e & kPteP)) return;
    bool guest_leaf = (sp.level == 2 || sp.level == 3) && (g & kPtePs);
    if (!guest_leaf && !(e & kPtePs)) {
        uint32_t child = tables_.slot_of(e);
        const ShadowPage& cp = tables_.page(child);
        if (!cp.direct && cp.gfn == GuestPhys(g & kPteAddrMask)) {
            if ((e & kTableFlags) != (g & kTableFlags)) tables_.link(slot, index, child, g);
            return;
        }
    }
    // The entry now leads elsewhere: drop it; the next access refills it (KVM zaps the spte).
    tables_.drop(slot, index);
}

void ShadowMmu::invlpg(GuestVirt va) {
    ++stats_.invlpg;
    // Sync shadow entries are kept current by write protection; only an unsync leaf table
    // can be stale, so that is the one to resync (KVM FNAME(invlpg) acts on unsync pages).
    if (!tables_.valid(root_.slot, root_.generation)) return;
    uint32_t slot = root_.slot;
    for (int level = levels_; level > 1; --level) {
        uint64_t e = tables_.page(slot).spt[table_index(va, level)];
        if (!(e & kPteP) || (e & kPtePs)) return;
        slot = tables_.slot_of(e);
    }
    if (tables_.page(slot).unsync) tables_.resync(slot);
}

void ShadowMmu::cr3_write(uint64_t new_cr3, bool flush) {
    // A guest TLB flush: the unsync tables under this vCPU's roots must match their guest tables
    // again (KVM: kvm_vcpu_flush_tlb_guest -> kvm_mmu_sync_roots, kvm_mmu_sync_prev_roots).
    if (flush) sync_roots();
    GuestPhys gfn = cr3_root(new_cr3);
    if (gfn == root_.gfn) return;
    RootRef old = root_;
    auto cached = cache_.take(gfn);
    if (cached && tables_.valid(cached->slot, cached->generation)) {
        ++stats_.root_cache_hits;
        root_ = *cached;
    } else {
        ++stats_.root_cache_misses;
        root_ = RootRef{gfn, kNoPage, 0};
        root_table();
    }
    if (!tables_.valid(old.slot, old.generation)) return;
    // A root pushed out of the cache is zapped, unless another vCPU still uses it; its subtrees
    // stay cached by guest frame and are relinked on demand if the address space comes back.
    if (auto out = cache_.put(old); out && tables_.valid(out->slot, out->generation) &&
                                    out->slot != root_.slot && !root_of_parked_vcpu(out->slot)) {
        ++stats_.root_evictions;
        tables_.zap(out->slot);
    }
}

void ShadowMmu::sync_roots() {
    std::vector<uint32_t> roots;
    if (tables_.valid(root_.slot, root_.generation)) roots.push_back(root_.slot);
    for (const RootRef& r : cache_.previous())
        if (tables_.valid(r.slot, r.generation)) roots.push_back(r.slot);
    sync_under(roots);
}

void ShadowMmu::sync_under(const std::vector<uint32_t>& tops) {
    if (tables_.unsync_pages().empty()) return;
    std::vector<uint32_t> unsync = tables_.unsync_pages();
    for (uint32_t slot : unsync)
        if (under_roots(slot, tops)) tables_.resync(slot);
}

bool ShadowMmu::under_roots(uint32_t slot, const std::vector<uint32_t>& roots) const {
    // Up the parent links (an entry reference is slot << 9 | index) to the root level.
    std::vector<uint32_t> frontier{slot};
    while (!frontier.empty()) {
        uint32_t s = frontier.back();
        frontier.pop_back();
        if (std::find(roots.begin(), roots.end(), s) != roots.end()) return true;
        for (uint32_t ref : tables_.page(s).parents) frontier.push_back(ref >> 9);
    }
    return false;
}

void ShadowMmu::start_vcpu(unsigned index) {
    parked_.start(index, VcpuRoots{root_, RootCache(options_.prev_roots)});
}

void ShadowMmu::switch_vcpu(unsigned index) {
    parked_.switch_to(index, [this](VcpuRoots& r) {
        std::swap(root_, r.root);
        std::swap(cache_, r.cache);
    });
}

bool ShadowMmu::root_of_parked_vcpu(uint32_t slot) {
    bool used = false;
    parked_.for_each_parked([&](const VcpuRoots& r) {
        if (r.root.slot == slot) used = true;
        for (const RootRef& p : r.cache.previous()) used = used || p.slot == slot;
    });
    return used;
}

} // namespace vmmu::shadow
