// Counters of one MMU backend: plain structs of integers with their sums beside them (several
// VMs add up), serialized in one place (engine/output/report_json.cpp). Names mirror KVM's
// where a KVM counter exists. A scheme keeps its own counters in a typed struct of its own and
// reports them as `details` when its counters are read, never on a per-access path.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace vmmu {

struct TlbCounters {
    uint64_t l1i_lookups = 0, l1i_misses = 0;
    uint64_t l1d_lookups = 0, l1d_misses = 0;
    uint64_t stlb_lookups = 0, stlb_misses = 0;
    uint64_t flushes = 0; // full or non-global flushes
    uint64_t flushed_entries = 0;

    TlbCounters& operator+=(const TlbCounters& o) {
        l1i_lookups += o.l1i_lookups, l1i_misses += o.l1i_misses;
        l1d_lookups += o.l1d_lookups, l1d_misses += o.l1d_misses;
        stlb_lookups += o.stlb_lookups, stlb_misses += o.stlb_misses;
        flushes += o.flushes, flushed_entries += o.flushed_entries;
        return *this;
    }
    // What was counted since the snapshot `o` (windows and intervals).
    TlbCounters& operator-=(const TlbCounters& o) {
        l1i_lookups -= o.l1i_lookups, l1i_misses -= o.l1i_misses;
        l1d_lookups -= o.l1d_lookups, l1d_misses -= o.l1d_misses;
        stlb_lookups -= o.stlb_lookups, stlb_misses -= o.stlb_misses;
        flushes -= o.flushes, flushed_entries -= o.flushed_entries;
        return *this;
    }
};

struct WalkCounters {
    uint64_t walks = 0;       // page walks started (one per STLB miss)
    uint64_t refs = 0;        // memory references made by walks, all dimensions
    uint64_t guest_refs = 0;  // reads of guest page-table entries (native, slat gL)
    uint64_t nested_refs = 0; // reads of nested (EPT) entries (slat)
    uint64_t shadow_refs = 0; // reads of shadow page-table entries (shadow)
    uint64_t max_refs_per_walk = 0;
    uint64_t pwc_lookups = 0, pwc_hits = 0;   // page-walk caches, all dimensions
    uint64_t ntlb_lookups = 0, ntlb_hits = 0; // nested TLB (slat)

    // A sum of runs keeps the largest walk of any of them.
    WalkCounters& operator+=(const WalkCounters& o) {
        walks += o.walks, refs += o.refs;
        guest_refs += o.guest_refs, nested_refs += o.nested_refs, shadow_refs += o.shadow_refs;
        max_refs_per_walk =
            max_refs_per_walk > o.max_refs_per_walk ? max_refs_per_walk : o.max_refs_per_walk;
        pwc_lookups += o.pwc_lookups, pwc_hits += o.pwc_hits;
        ntlb_lookups += o.ntlb_lookups, ntlb_hits += o.ntlb_hits;
        return *this;
    }
    // Since the snapshot `o`. The largest walk is not a count: it stays the run's largest so
    // far (a window reports the largest walk up to its end).
    WalkCounters& operator-=(const WalkCounters& o) {
        walks -= o.walks, refs -= o.refs;
        guest_refs -= o.guest_refs, nested_refs -= o.nested_refs, shadow_refs -= o.shadow_refs;
        pwc_lookups -= o.pwc_lookups, pwc_hits -= o.pwc_hits;
        ntlb_lookups -= o.ntlb_lookups, ntlb_hits -= o.ntlb_hits;
        return *this;
    }
};

// Where a memory reference was served (engine/mmu/cache.h).
enum class CacheLevel : uint8_t { L1, L2, Llc, Memory, Count };
constexpr std::array<std::string_view, static_cast<size_t>(CacheLevel::Count)> kCacheLevelNames = {
    "l1", "l2", "llc", "memory"};
// Which tables a walk reference read.
enum class WalkDimension : uint8_t { Guest, Nested, Shadow, Count };
constexpr std::array<std::string_view, static_cast<size_t>(WalkDimension::Count)>
    kWalkDimensionNames = {"guest", "nested", "shadow"};

// The cache hierarchy of one backend (all zero and `modelled` false with --caches off).
struct CacheCounters {
    static constexpr size_t kLevels = static_cast<size_t>(CacheLevel::Count);
    static constexpr size_t kDims = static_cast<size_t>(WalkDimension::Count);
    bool modelled = false;   // walk references were priced by the level that served them
    bool price_data = false; // data accesses beyond L1 were priced too
    // Walk references served by each level, per dimension: walk[dim][level].
    std::array<std::array<uint64_t, kLevels>, kDims> walk{};
    // Data accesses served by each level (every access, a coalesced loop's repeats included).
    std::array<uint64_t, kLevels> data{};
    // Data misses at L1, L2, LLC on a line that a walk reference's fill had evicted there.
    std::array<uint64_t, kLevels - 1> data_misses_from_walks{};

    uint64_t walk_at(CacheLevel l) const {
        uint64_t n = 0;
        for (auto& d : walk) n += d[static_cast<size_t>(l)];
        return n;
    }
    CacheCounters& operator+=(const CacheCounters& o) {
        modelled = modelled || o.modelled;
        price_data = price_data || o.price_data;
        for (size_t d = 0; d < kDims; ++d)
            for (size_t l = 0; l < kLevels; ++l) walk[d][l] += o.walk[d][l];
        for (size_t l = 0; l < kLevels; ++l) data[l] += o.data[l];
        for (size_t l = 0; l + 1 < kLevels; ++l)
            data_misses_from_walks[l] += o.data_misses_from_walks[l];
        return *this;
    }
    // Since the snapshot `o` (the flags stay as they are).
    CacheCounters& operator-=(const CacheCounters& o) {
        for (size_t d = 0; d < kDims; ++d)
            for (size_t l = 0; l < kLevels; ++l) walk[d][l] -= o.walk[d][l];
        for (size_t l = 0; l < kLevels; ++l) data[l] -= o.data[l];
        for (size_t l = 0; l + 1 < kLevels; ++l)
            data_misses_from_walks[l] -= o.data_misses_from_walks[l];
        return *this;
    }
};

enum class ExitReason : uint8_t {
    Cr3Write,
    Invlpg,
    PfHidden,     // shadow: missing or stale shadow entry, fixed by the hypervisor
    PfGuest,      // shadow: a genuine guest #PF, reflected into the guest
    PtWrite,      // shadow: write to a write-protected guest page table, emulated
    EptViolation, // slat: missing EPT entry
    Timer,
    Io,
    Hlt,
    Other,
    HvSwitchAs,  // Hyper-V: HvSwitchVirtualAddressSpace hypercall (shadow: the VTLB)
    HvFlush,     // Hyper-V: HvFlushVirtualAddressSpace / HvFlushVirtualAddressList hypercall
    Ipi,         // several vCPUs: an IPI sent (APIC write) or injected into its receiver
    RemoteFlush, // several vCPUs: another vCPU kicked out of the guest to flush its TLB
    Count
};
constexpr std::array<std::string_view, static_cast<size_t>(ExitReason::Count)> kExitReasonNames = {
    "cr3_write", "invlpg", "pf_hidden",    "pf_guest", "pt_write", "ept_violation", "timer", "io",
    "hlt",       "other",  "hv_switch_as", "hv_flush", "ipi",      "remote_flush"};

struct ExitCounters {
    std::array<uint64_t, static_cast<size_t>(ExitReason::Count)> by_reason{};
    void count(ExitReason r, uint64_t n = 1) { by_reason[static_cast<size_t>(r)] += n; }
    uint64_t operator[](ExitReason r) const { return by_reason[static_cast<size_t>(r)]; }
    uint64_t total() const {
        uint64_t t = 0;
        for (auto n : by_reason) t += n;
        return t;
    }
    ExitCounters& operator+=(const ExitCounters& o) {
        for (size_t r = 0; r < by_reason.size(); ++r) by_reason[r] += o.by_reason[r];
        return *this;
    }
    ExitCounters& operator-=(const ExitCounters& o) {
        for (size_t r = 0; r < by_reason.size(); ++r) by_reason[r] -= o.by_reason[r];
        return *this;
    }
};

// A scheme's own counters as reported, by name (the JSON's "details", sorted by name).
using Details = std::map<std::string, uint64_t>;
// Most scheme counters are reported only once they have counted something.
inline void report_nonzero(Details& d, const char* name, uint64_t value) {
    if (value) d[name] = value;
}

// Modelled cycles, by part (cost model: engine/mmu/cost.*).
struct CycleBreakdown {
    double base = 0, walk = 0, exit = 0, handler = 0;
    double data = 0; // data accesses beyond L1 (only when data misses are priced)
    // With caches modelled: the walk references' share of `walk`, by dimension (guest, nested,
    // shadow); PWC and nested-TLB hits are the rest.
    std::array<double, static_cast<size_t>(WalkDimension::Count)> walk_refs_by_dimension{};
    double total() const { return base + walk + exit + handler + data; }
    CycleBreakdown& operator+=(const CycleBreakdown& o) {
        base += o.base, walk += o.walk, exit += o.exit, handler += o.handler, data += o.data;
        for (size_t d = 0; d < walk_refs_by_dimension.size(); ++d)
            walk_refs_by_dimension[d] += o.walk_refs_by_dimension[d];
        return *this;
    }
    CycleBreakdown& operator-=(const CycleBreakdown& o) {
        base -= o.base, walk -= o.walk, exit -= o.exit, handler -= o.handler, data -= o.data;
        for (size_t d = 0; d < walk_refs_by_dimension.size(); ++d)
            walk_refs_by_dimension[d] -= o.walk_refs_by_dimension[d];
        return *this;
    }
};

// Hyper-V's per-partition counters that are levels, not counts ("Address Spaces" in the virtual
// TLB, "Virtual TLB Pages"): a window reports their value at its end, not a difference.
inline bool is_hyperv_gauge(const std::string& name) {
    return name == "Address Spaces" || name == "Virtual TLB Pages";
}

struct BackendCounters {
    TlbCounters tlb;
    WalkCounters walks;
    ExitCounters exits;
    CacheCounters caches;
    // Scheme-specific counters (shadow: unsync, resync, flooded, zapped, root_cache_hits, ...),
    // filled from the scheme's typed counters when they are read.
    Details details;
    // The same events under Hyper-V's own performance-counter names (shadow under
    // --hypervisor hyperv: its VTLB), empty otherwise; counts over the run, not rates.
    Details hyperv;

    // Peaks among the details (shadow_pages) add up too: an upper bound on what VMs hold at once.
    BackendCounters& operator+=(const BackendCounters& o) {
        tlb += o.tlb;
        walks += o.walks;
        exits += o.exits;
        caches += o.caches;
        for (auto& [k, v] : o.details) details[k] += v;
        for (auto& [k, v] : o.hyperv) hyperv[k] += v;
        return *this;
    }
    // Since the snapshot `o`. A detail that is a peak (shadow_pages) reports how much the peak
    // grew; one that went down (none should) keeps its value rather than wrap around.
    BackendCounters& operator-=(const BackendCounters& o) {
        tlb -= o.tlb;
        walks -= o.walks;
        exits -= o.exits;
        caches -= o.caches;
        for (auto& [k, v] : o.details) {
            auto it = details.find(k);
            if (it != details.end() && it->second >= v) it->second -= v;
        }
        for (auto& [k, v] : o.hyperv) {
            auto it = hyperv.find(k);
            if (it != hyperv.end() && it->second >= v && !is_hyperv_gauge(k)) it->second -= v;
        }
        return *this;
    }
};

} // namespace vmmu
