#include "engine/host/dedup.h"

#include <fmt/format.h>

#include <cstring>
#include <stdexcept>

namespace vmmu {

void DedupCounters::add(const DedupCounters& o) {
    passes += o.passes, full_scans += o.full_scans, pages_scanned += o.pages_scanned;
    pages_hashed += o.pages_hashed, compares += o.compares, merges += o.merges;
    breaks += o.breaks, diverged += o.diverged, volatile_skips += o.volatile_skips;
    frames_saved += o.frames_saved, frames_saved_peak += o.frames_saved_peak;
    shared_frames += o.shared_frames;
}

uint64_t Deduplicator::hash_frame(const uint8_t* bytes) {
    // FNV-1a (Fowler, Noll, Vo) with its 64-bit offset basis and prime, one word at a time.
    uint64_t h = 0xcbf29ce484222325ull;
    for (unsigned i = 0; i < kPageSize4K; i += 8) {
        uint64_t w;
        std::memcpy(&w, bytes + i, 8);
        h = (h ^ w) * 0x100000001b3ull;
    }
    return h | 1; // never 0: 0 marks "not visited yet"
}

void Deduplicator::add_vm(GuestMemory& memory, P2m& p2m, std::vector<HostObserver*> backends,
                          std::function<bool(uint64_t)> touched) {
    uint64_t frames = memory.size() >> kPageShift4K;
    vms_.push_back({&memory,
                    &p2m,
                    std::move(backends),
                    std::move(touched),
                    std::vector<uint64_t>(frames, 0),
                    std::vector<uint32_t>(frames, kNotShared),
                    {}});
}

void Deduplicator::advance(uint64_t instructions) {
    since_pass_ += instructions;
    while (since_pass_ >= config_.period) {
        since_pass_ -= config_.period;
        pass();
    }
}

void Deduplicator::pass() {
    if (vms_.empty()) return;
    ++total_.passes;
    uint64_t budget = config_.pages_per_pass;
    // At most one full round per pass, so a host with little backed memory cannot spin.
    uint64_t steps = 0, limit = 0;
    for (auto& v : vms_) limit += v.shared.size();
    while (budget > 0 && steps++ < limit) {
        Vm& v = vms_[cursor_vm_];
        uint64_t gfn = cursor_gfn_++;
        if (cursor_gfn_ >= v.shared.size()) {
            cursor_gfn_ = 0;
            if (++cursor_vm_ == vms_.size()) {
                // End of a round: KSM rebuilds its unstable tree from scratch every full scan.
                cursor_vm_ = 0;
                ++total_.full_scans;
                unstable_.clear();
            }
        }
        if (!v.touched(gfn)) continue; // not backed by the host: nothing to scan
        --budget;
        scan(static_cast<size_t>(&v - vms_.data()), gfn);
    }
}

void Deduplicator::scan(size_t vm, uint64_t gfn) {
    Vm& v = vms_[vm];
    count(vm, [](DedupCounters& c) { ++c.pages_scanned; });
    const uint8_t* bytes = v.memory->host_ptr(GuestPhys(gfn << kPageShift4K));
    if (v.shared[gfn] != kNotShared) {
        // KSM skips its own pages (read-only, they cannot change). Here the emulator sets A/D
        // bits in guest page tables without the engine seeing a write, so the host checks the
        // guest's copy and gives a changed frame back, as the hardware's write would have.
        count(vm, [](DedupCounters& c) { ++c.compares; });
        if (std::memcmp(bytes, shared_[v.shared[gfn]].bytes.data(), kPageSize4K) != 0)
            unshare(vm, gfn, HostRemap::Diverged);
        return;
    }
    uint64_t h = hash_frame(bytes);
    count(vm, [](DedupCounters& c) { ++c.pages_hashed; });
    // Stable tree first: an identical frame already shared (mm/ksm.c cmp_and_merge_page).
    if (auto it = stable_.find(h); it != stable_.end()) {
        for (uint32_t id : it->second) {
            Shared& s = shared_[id];
            if (s.mappers >= kDedupMaxPageSharing) continue;
            count(vm, [](DedupCounters& c) { ++c.compares; });
            if (std::memcmp(bytes, s.bytes.data(), kPageSize4K) != 0) continue;
            map_shared(vm, gfn, id, true);
            return;
        }
    }
    // A frame that changed since its last visit is volatile: not worth a candidate (KSM
    // compares its checksum with oldchecksum before the unstable tree).
    uint64_t last = v.last_hash[gfn];
    v.last_hash[gfn] = h;
    if (last != h) {
        if (last != 0) count(vm, [](DedupCounters& c) { ++c.volatile_skips; });
        return;
    }
    auto& bucket = unstable_[h];
    for (size_t i = 0; i < bucket.size(); ++i) {
        Candidate c = bucket[i];
        if (c.vm == vm && c.gfn == gfn) return; // already a candidate this round
        Vm& cv = vms_[c.vm];
        if (cv.shared[c.gfn] != kNotShared || !cv.touched(c.gfn)) continue;
        count(vm, [](DedupCounters& k) { ++k.compares; });
        const uint8_t* other = cv.memory->host_ptr(GuestPhys(c.gfn << kPageShift4K));
        if (std::memcmp(bytes, other, kPageSize4K) != 0) continue;
        // Two identical frames: the candidate's frame becomes the shared one, ours is freed.
        bucket.erase(bucket.begin() + static_cast<std::ptrdiff_t>(i));
        uint32_t id = make_shared(c.vm, c.gfn, h);
        map_shared(vm, gfn, id, true);
        return;
    }
    bucket.push_back({static_cast<uint32_t>(vm), gfn});
}

uint32_t Deduplicator::make_shared(size_t vm, uint64_t gfn, uint64_t hash) {
    Vm& v = vms_[vm];
    GuestPhys pa(gfn << kPageShift4K);
    uint32_t id;
    if (!free_ids_.empty()) {
        id = free_ids_.back();
        free_ids_.pop_back();
    } else {
        id = static_cast<uint32_t>(shared_.size());
        shared_.emplace_back();
    }
    Shared& s = shared_[id];
    s.frame = v.p2m->translate(pa);
    s.hash = hash;
    s.bytes.assign(v.memory->host_ptr(pa), v.memory->host_ptr(pa) + kPageSize4K);
    s.mappers = 0;
    host_.set_owner(s.frame, HostFrames::kShared);
    stable_[hash].push_back(id);
    ++total_.shared_frames;
    // The frame's first mapper keeps its (now shared) host frame: nothing is freed for it.
    map_shared(vm, gfn, id, false);
    return id;
}

void Deduplicator::map_shared(size_t vm, uint64_t gfn, uint32_t id, bool frees_frame) {
    Vm& v = vms_[vm];
    Shared& s = shared_[id];
    GuestPhys pa(gfn << kPageShift4K);
    if (frees_frame) {
        host_.set_owner(v.p2m->translate(pa).page_base(), HostFrames::kFree);
        bump_saved(1);
    }
    v.p2m->remap(pa, s.frame, true);
    v.memory->trap_writes(pa, true);
    v.shared[gfn] = id;
    ++s.mappers;
    count(vm, [](DedupCounters& c) { ++c.merges; });
    notify(vm, gfn, HostRemap::Merged);
}

void Deduplicator::break_on_write(size_t vm, GuestPhys pa) {
    uint64_t gfn = pa.page_number();
    if (vm >= vms_.size() || gfn >= vms_[vm].shared.size() || vms_[vm].shared[gfn] == kNotShared)
        throw std::logic_error(fmt::format("dedup: VM {} gPA {:#x} is not shared", vm, pa.value()));
    unshare(vm, gfn, HostRemap::BrokenByWrite);
}

void Deduplicator::unshare(size_t vm, uint64_t gfn, HostRemap why) {
    Vm& v = vms_[vm];
    uint32_t id = v.shared[gfn];
    Shared& s = shared_[id];
    GuestPhys pa(gfn << kPageShift4K);
    // The private copy: the guest's bytes already are the frame's content (data stays at gPA).
    HostPhys frame = host_.allocate(static_cast<HostFrames::Owner>(vm));
    v.p2m->remap(pa, frame, false);
    v.memory->trap_writes(pa, false);
    v.shared[gfn] = kNotShared;
    v.last_hash[gfn] = 0;
    if (--s.mappers == 0) {
        // Its last mapper left: the shared frame goes back to the pool.
        host_.set_owner(s.frame, HostFrames::kFree);
        auto& ids = stable_[s.hash];
        ids.erase(std::find(ids.begin(), ids.end(), id));
        if (ids.empty()) stable_.erase(s.hash);
        s.bytes.clear();
        s.bytes.shrink_to_fit();
        free_ids_.push_back(id);
        --total_.shared_frames;
    } else {
        bump_saved(-1);
    }
    if (why == HostRemap::Diverged)
        count(vm, [](DedupCounters& c) { ++c.diverged; });
    else
        count(vm, [](DedupCounters& c) { ++c.breaks; });
    notify(vm, gfn, why);
}

void Deduplicator::notify(size_t vm, uint64_t gfn, HostRemap what) {
    for (HostObserver* b : vms_[vm].backends)
        b->on_host_remap(GuestPhys(gfn << kPageShift4K), what);
}

void Deduplicator::bump_saved(int64_t delta) {
    total_.frames_saved = static_cast<uint64_t>(static_cast<int64_t>(total_.frames_saved) + delta);
    total_.frames_saved_peak = std::max(total_.frames_saved_peak, total_.frames_saved);
}

} // namespace vmmu
