// CPU profiles: the constants that turn counted events into cycles, each with its source.
//
// Read from JSON (workloads/profiles/NAME.json) into a plain struct. Unknown keys are rejected,
// every group of numbers must carry a "source" (a citation, or "estimate: why"), and errors
// name the profile and the key path: "profile nehalem-2009: tlb.stlb.ways: must be >= 1".
#pragma once

#include "engine/mmu/cache.h"
#include "engine/mmu/counters.h"
#include "engine/mmu/pwc.h"
#include "engine/mmu/tlb.h"

#include <nlohmann/json_fwd.hpp>

#include <array>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace vmmu {

struct Profile {
    std::string name;
    std::string description;
    double core_ghz = 0;
    double base_cpi = 0; // cycles per guest instruction when no MMU event stalls it

    bool ept = false;  // hardware nested paging (SLAT) exists
    bool vpid = false; // TLB entries tagged by VPID: VM exit/entry need not flush
    bool pcid = false; // TLB entries tagged by PCID
    // APIC virtualization (several vCPUs): virtual-interrupt delivery with posted interrupts, so
    // an IPI reaches its receiver and an EOI completes without an exit (Intel APICv, AMD AVIC).
    bool apicv = false;
    // IPI virtualization: the sender's ICR write posts the IPI without an exit (Intel IPIv from
    // Sapphire Rapids; AMD AVIC for a target that is running). Needs apicv.
    bool ipiv = false;

    TlbHierarchyConfig tlb;
    PwcConfig pwc;           // guest (and native/shadow) dimension
    bool nested_pwc = false; // page-walk caches for EPT tables exist
    PwcConfig pwc_nested;    // their sizes
    bool ntlb = false;       // nested TLB (gPA -> hPA) exists
    TlbArrayGeometry ntlb_geometry;

    CacheConfig caches; // data caches the walker and data accesses go through (--caches on)

    double walk_ref_cycles = 0;        // one page-walk memory reference (--caches off)
    double pwc_hit_cycles = 0;         // one page-walk-cache hit
    double ntlb_hit_cycles = 0;        // one nested-TLB hit
    double exit_round_trip_cycles = 0; // VM exit + VM entry, world switch only
    std::array<double, static_cast<size_t>(ExitReason::Count)> handler_cycles{};
    double hv_flush_entry_cycles = 0; // one page of a Hyper-V flush list, beyond its exit

    // Key path of each group ("tlb.stlb", "latency.walk_ref", ...) -> its "source" text.
    std::map<std::string, std::string> sources;

    double handler(ExitReason r) const { return handler_cycles[static_cast<size_t>(r)]; }
};

// Parses one profile; `origin` names it in errors until its "name" key has been read.
// Throws std::invalid_argument("profile NAME: key.path: problem").
Profile parse_profile(const nlohmann::json& j, std::string_view origin);
Profile load_profile_file(const std::filesystem::path& file,
                          const std::vector<std::string>& sets = {});
// A name ("nehalem-2009") looked up as dir/NAME.json, or a path to a .json file. `sets` are
// `--set KEY=VALUE` overrides ("tlb.stlb.entries=1024", "vm_exit.round_trip.value=1200"): KEY
// must name a value the profile file has, VALUE must be of its kind, and the result must pass
// the profile's own rules; the overridden group's source says so. Throws
// std::invalid_argument("--set KEY=VALUE: problem") otherwise.
Profile load_profile(std::string_view name_or_path, const std::filesystem::path& dir,
                     const std::vector<std::string>& sets = {});
// The file load_profile reads for `name_or_path` (throws as load_profile does when none).
std::filesystem::path profile_file(std::string_view name_or_path, const std::filesystem::path& dir);
// The nearest workloads/profiles directory at or above `start` (empty path if none).
std::filesystem::path find_profile_dir(const std::filesystem::path& start);
// Names of the profiles in dir, sorted.
std::vector<std::string> profile_names(const std::filesystem::path& dir);

} // namespace vmmu
