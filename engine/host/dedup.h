// Host memory deduplication, modelled on Linux KSM (Documentation/admin-guide/mm/ksm.rst,
// mm/ksm.c) and ESX transparent page sharing (Waldspurger, OSDI 2002).
//
// A host-side scanner visits guest frames round-robin over every VM, a bounded number per pass,
// one pass every `period` guest instructions (never host time: runs stay deterministic). Like
// ksmd it hashes each frame, looks for an identical shared frame (KSM's stable tree), then, if
// the frame did not change since its last visit, for an identical unshared frame seen in this
// round (the unstable tree); a hash match is confirmed byte for byte. Identical frames become
// one read-only host frame; the duplicates go back to the host pool. A guest write to a shared
// frame takes a private copy again (copy-on-write). Every change is told to the VM's backends
// (HostObserver::on_host_remap), which model what their scheme pays for it.
#pragma once

#include "engine/core/guest_memory.h"
#include "engine/host/host_frames.h"
#include "engine/host/p2m.h"
#include "engine/host/host_events.h"

#include <cstdint>
#include <functional>
#include <unordered_map>
#include <vector>

namespace vmmu {

// ksm.rst: pages_to_scan "Default: 100", sleep_millisecs "Default: 20". 20 ms of a host at
// ~3 GHz and ~1 guest instruction per cycle (the same estimate as kDefaultQuantum) is 6e7
// guest instructions between passes.
constexpr uint64_t kDefaultDedupPages = 100;
constexpr uint64_t kDefaultDedupPeriod = 60'000'000;
// ksm.rst: max_page_sharing "Default: 256": mappers of one shared frame at most.
constexpr uint32_t kDedupMaxPageSharing = 256;

// Host cycles of the scanner's work. Estimates, not measurements: reading a 4 KiB frame that
// is not in cache streams 64 lines from DRAM at ~10 GB/s per core, ~1200 cycles at 3 GHz, and
// hashing it (KSM uses xxhash, several bytes per cycle) overlaps that: ~1500 cycles a page.
// A byte compare streams two frames: ~2500. A merge or a break rewrites a host page-table
// entry, invalidates the VM's mappings (mmu notifier, a remote TLB flush) and, for a break,
// copies 4 KiB: ~5000 (order of magnitude of a host page fault with a page copy).
constexpr double kDedupHashCycles = 1500;
constexpr double kDedupCompareCycles = 2500;
constexpr double kDedupRemapCycles = 5000;

struct DedupConfig {
    uint64_t period = kDefaultDedupPeriod; // guest instructions between passes
    uint64_t pages_per_pass = kDefaultDedupPages;
};

struct DedupCounters {
    uint64_t passes = 0;        // ksmd wake-ups
    uint64_t full_scans = 0;    // rounds over every VM's frames (KSM full_scans)
    uint64_t pages_scanned = 0; // frames visited
    uint64_t pages_hashed = 0;
    uint64_t compares = 0;       // byte compares after a hash match
    uint64_t merges = 0;         // guest frames mapped to a shared frame
    uint64_t breaks = 0;         // copy-on-write on a guest write
    uint64_t diverged = 0;       // shared frames found changed by a write nobody saw (A/D bits)
    uint64_t volatile_skips = 0; // changed since the last visit: not a candidate (KSM volatile)
    uint64_t frames_saved = 0, frames_saved_peak = 0;
    uint64_t shared_frames = 0; // host frames currently shared (KSM pages_shared)
    double cycles() const {
        return pages_hashed * kDedupHashCycles + compares * kDedupCompareCycles +
               (merges + breaks + diverged) * kDedupRemapCycles;
    }
    void add(const DedupCounters& o);
};

class Deduplicator {
public:
    Deduplicator(HostFrames& host, DedupConfig config) : host_(host), config_(config) {}

    // VMs in index order. touched(gfn): the host backs the frame (the VM has used it).
    void add_vm(GuestMemory& memory, P2m& p2m, std::vector<HostObserver*> backends,
                std::function<bool(uint64_t gfn)> touched);

    const DedupConfig& config() const { return config_; }
    // The host ran `instructions` more guest instructions: run the passes that are due.
    void advance(uint64_t instructions);
    // One pass: up to pages_per_pass backed frames, continuing where the last pass stopped.
    void pass();
    // The guest of VM `vm` is about to write the shared frame holding `pa`.
    void break_on_write(size_t vm, GuestPhys pa);

    const DedupCounters& counters() const { return total_; }
    const DedupCounters& vm_counters(size_t vm) const { return vms_.at(vm).counters; }

    // A fixed 64-bit hash of a 4 KiB frame (FNV-1a over 64-bit words).
    static uint64_t hash_frame(const uint8_t* bytes);

private:
    static constexpr uint32_t kNotShared = UINT32_MAX;
    struct Vm {
        GuestMemory* memory;
        P2m* p2m;
        std::vector<HostObserver*> backends;
        std::function<bool(uint64_t)> touched;
        std::vector<uint64_t> last_hash; // per gfn, at its last visit (0: never visited)
        std::vector<uint32_t> shared;    // per gfn: shared frame id or kNotShared
        DedupCounters counters;
    };
    struct Shared {
        HostPhys frame;
        uint64_t hash = 0;
        std::vector<uint8_t> bytes; // the read-only copy every mapper sees
        uint32_t mappers = 0;
    };
    struct Candidate {
        uint32_t vm;
        uint64_t gfn;
    };

    void scan(size_t vm, uint64_t gfn);
    uint32_t make_shared(size_t vm, uint64_t gfn, uint64_t hash);
    void map_shared(size_t vm, uint64_t gfn, uint32_t id, bool frees_frame);
    void unshare(size_t vm, uint64_t gfn, HostRemap why);
    void notify(size_t vm, uint64_t gfn, HostRemap what);
    void bump_saved(int64_t delta);
    template <class F> void count(size_t vm, F&& f) {
        f(total_);
        f(vms_[vm].counters);
    }

    HostFrames& host_;
    DedupConfig config_;
    std::vector<Vm> vms_;
    std::vector<Shared> shared_;
    std::vector<uint32_t> free_ids_;
    std::unordered_map<uint64_t, std::vector<uint32_t>> stable_;    // hash -> shared ids
    std::unordered_map<uint64_t, std::vector<Candidate>> unstable_; // hash -> this round's frames
    size_t cursor_vm_ = 0;
    uint64_t cursor_gfn_ = 0;
    uint64_t since_pass_ = 0;
    DedupCounters total_;
};

} // namespace vmmu
