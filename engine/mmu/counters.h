// Counters of one MMU backend: plain structs of integers, summed and serialized in one place
// (engine/mmu/report_json.*). Names mirror KVM's where a KVM counter exists.
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
    uint64_t flushes = 0;       // full or non-global flushes
    uint64_t flushed_entries = 0;
};

struct WalkCounters {
    uint64_t walks = 0;             // page walks started (one per STLB miss)
    uint64_t refs = 0;              // memory references made by walks, all dimensions
    uint64_t guest_refs = 0;        // reads of guest page-table entries (native, slat gL)
    uint64_t nested_refs = 0;       // reads of nested (EPT) entries (slat)
    uint64_t shadow_refs = 0;       // reads of shadow page-table entries (shadow)
    uint64_t max_refs_per_walk = 0;
    uint64_t pwc_lookups = 0, pwc_hits = 0;   // page-walk caches, all dimensions
    uint64_t ntlb_lookups = 0, ntlb_hits = 0; // nested TLB (slat)
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
    Count
};
constexpr std::array<std::string_view, static_cast<size_t>(ExitReason::Count)> kExitReasonNames = {
    "cr3_write", "invlpg", "pf_hidden", "pf_guest", "pt_write",
    "ept_violation", "timer", "io", "hlt", "other"};

struct ExitCounters {
    std::array<uint64_t, static_cast<size_t>(ExitReason::Count)> by_reason{};
    void count(ExitReason r, uint64_t n = 1) { by_reason[static_cast<size_t>(r)] += n; }
    uint64_t operator[](ExitReason r) const { return by_reason[static_cast<size_t>(r)]; }
    uint64_t total() const {
        uint64_t t = 0;
        for (auto n : by_reason) t += n;
        return t;
    }
};

// Modelled cycles, by part (cost model: engine/mmu/cost.*).
struct CycleBreakdown {
    double base = 0, walk = 0, exit = 0, handler = 0;
    double total() const { return base + walk + exit + handler; }
};

struct BackendCounters {
    TlbCounters tlb;
    WalkCounters walks;
    ExitCounters exits;
    // Scheme-specific counters (shadow: unsync, resync, flooded, zapped, root_cache_hits, ...).
    std::map<std::string, uint64_t> details;
};

} // namespace vmmu
