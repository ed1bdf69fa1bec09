// Page-walk caches: one small fully associative LRU cache per upper level (PML5E, PML4E, PDPTE,
// PDE; the PML5E cache serves five-level walks only, SDM vol. 3, 4.10.3.1).
//
// An entry is tagged by the address bits that select the cached entry (56:48, 56:39, 56:30,
// 56:21; bits 56:48 are zero for an address a four-level walk translates) and
// a context (PCID/VPID for guest tables, EPTP for nested ones) and stores the address of the
// next table, so a hit lets a walk skip the levels above it (Intel SDM 4.10.3). A cache is typed
// by the address it is tagged with and the space its tables live in: guest walks (gVA -> guest
// table gPA), shadow walks (gVA -> shadow table hPA), nested walks (gPA -> EPT table hPA).
#pragma once

#include "engine/core/addr.h"
#include "engine/mmu/counters.h"

#include <cstdint>
#include <vector>

namespace vmmu {

// Entries per level; 0 disables that level.
struct PwcConfig {
    uint32_t pml4e = 0, pdpte = 0, pde = 0;
    uint32_t pml5e = 0; // used by five-level walks only (guest LA57, or 5-level EPT)
};

// 16 bytes, so that lookup() returns it in two registers.
template <class Table> struct PwcProbe {
    int level = 0;      // level whose table the walk reads next (0: nothing cached, from root)
    uint16_t flags = 0; // what the walk stored with the table (e.g. permissions accumulated above)
    Table table;        // that table's address (valid when level > 0)
    bool hit() const { return level > 0; }
};

// `InAddress`: the address a walk translates (tagging entries); `Table`: where its tables live.
// Instantiated in pwc.cpp for the three caches named below.
template <class InAddress, class Table> class PageWalkCache {
public:
    using Probe = PwcProbe<Table>;
    using In = InAddress;

    PageWalkCache() = default;
    // counters (may be null) receives one lookup per probe and one hit when any level hits.
    PageWalkCache(const PwcConfig& config, WalkCounters* counters);

    bool enabled() const {
        return !levels_[0].empty() || !levels_[1].empty() || !levels_[2].empty() ||
               !levels_[3].empty();
    }

    // Deepest level cached for addr (PDE first, as hardware prefers the longest match).
    Probe lookup(In addr, uint32_t context);
    // After reading a present non-leaf entry at `level` (5, 4, 3 or 2) that points to next_table;
    // `flags` come back unchanged with it from lookup.
    void fill(In addr, int level, Table next_table, uint32_t context, uint16_t flags = 0);

    // Entries that would be used to translate addr (a page fault on addr, SDM 4.10.4.1).
    void invalidate_address(In addr, uint32_t context);
    void flush_context(uint32_t context);
    void flush_all();

private:
    struct Entry {
        uint64_t tag = 0; // page number of addr at the entry's level (not an address)
        Table next;
        uint64_t stamp = 0; // LRU: last use, from clock_
        uint32_t context = 0;
        uint16_t flags = 0;
        bool valid = false;
    };
    // levels_[0] = PDE cache (level 2), [1] = PDPTE (3), [2] = PML4E (4), [3] = PML5E (5).
    static unsigned slot(int level) { return static_cast<unsigned>(level - 2); }
    static uint64_t tag_of(In addr, int level) {
        return (addr.value() & ((uint64_t{1} << 57) - 1)) >> (12 + 9 * (level - 1));
    }

    std::vector<Entry> levels_[4];
    uint64_t clock_ = 0;
    WalkCounters* counters_ = nullptr;
};

using GuestPwc = PageWalkCache<GuestVirt, GuestPhys>; // the guest's own tables
using ShadowPwc = PageWalkCache<GuestVirt, HostPhys>; // shadow tables
using NestedPwc = PageWalkCache<GuestPhys, HostPhys>; // EPT tables

} // namespace vmmu
