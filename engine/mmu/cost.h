// Cost model: counted events × profile constants = modelled cycles, in four parts.
#pragma once

#include "engine/mmu/counters.h"
#include "engine/mmu/profile.h"

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace vmmu {

// details keys a backend may fill with hypervisor work beyond the per-exit handler constant:
// memory references its handlers made (e.g. shadow walking guest tables), and raw cycles.
constexpr std::string_view kDetailHvRefs = "hv_refs";
constexpr std::string_view kDetailHvCycles = "hv_cycles";
// Host cycles of memory deduplication's scanner for this VM (engine/host/dedup.h, estimates).
constexpr std::string_view kDetailDedupCycles = "dedup_scan_cycles";
// Pages named by Hyper-V flush-list hypercalls the hypervisor handled (shadow: its VTLB).
constexpr std::string_view kDetailHvFlushEntries = "hv_flush_entries";

// base    = instructions × base_cpi
// walk    = walk references' cycles + pwc_hits × pwc_hit + ntlb_hits × ntlb_hit, where a walk
//           reference costs the latency of the cache level that served it (--caches on) or
//           the flat walk_ref (--caches off); PWC and nested-TLB hits never reach the caches
// data    = Σ_level data accesses served there × (latency − L1D latency), only when data
//           misses are priced (--price-data on); L1D hits stay inside base_cpi
// exit    = Σ exits × round_trip
// handler = Σ_reason exits[reason] × handler[reason] + hv_refs × walk_ref + hv_cycles
//           + dedup_scan_cycles + hv_flush_entries × hv_flush_entry
// The walk part's memory references alone (no PWC or nested-TLB hits); by dimension (modelled
// caches only).
double walk_ref_cycles(const BackendCounters& c, const Profile& p);
double dimension_ref_cycles(const BackendCounters& c, const Profile& p, WalkDimension d);

CycleBreakdown compute_cycles(const BackendCounters& c, const Profile& p,
                              uint64_t guest_instructions);

} // namespace vmmu
