// Policy options of the shadow MMU, parsed from BackendEnv::options (`--shadow-opt KEY=VALUE`).
#pragma once

#include "engine/mmu/registry.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace vmmu::shadow {

struct ShadowOptions {
    // Leaf guest tables may go out of sync instead of trapping every write (KVM mmu_unsync).
    bool unsync = true;
    // Writes without an intervening translation before a table is unshadowed; 0 disables.
    // KVM unshadows after 3 (docs/ANCHORS.md, "How KVM's shadow MMU behaves").
    uint32_t flood_threshold = 3;
    // Live shadow pages before the least recently used are zapped.
    uint64_t page_budget = 4096;
    // Previous roots kept across CR3 switches (KVM keeps 3; docs/ANCHORS.md).
    uint32_t prev_roots = 3;

    // Hyper-V 2008's VTLB capacity (--hypervisor hyperv): cached address spaces
    // (prev_roots + the current one) and shadow pages per partition; when a space beyond the
    // capacity is switched to, the least recently used cached one is evicted, and beyond the
    // page budget the least recently used shadow pages are (the same policies as KVM's here).
    static ShadowOptions hyperv_vtlb();

    // Throws std::invalid_argument naming the key on an unknown key or a bad value. Keys not
    // given keep `defaults`.
    static ShadowOptions parse(const std::map<std::string, std::string>& options,
                               const ShadowOptions& defaults);
    static ShadowOptions parse(const std::map<std::string, std::string>& options);
    // Every key parse() accepts, with its default and meaning (`vmmu list`).
    static std::vector<SchemeOption> describe();
};

} // namespace vmmu::shadow
