// Page-walk caches: one small fully associative LRU cache per upper level (PML4E, PDPTE, PDE).
//
// An entry is tagged by the address bits that select the cached entry (47:39, 47:30, 47:21) and
// a context (PCID/VPID for guest tables, EPTP for nested ones) and stores the address of the
// next table, so a hit lets a walk skip the levels above it (Intel SDM 4.10.3). Addresses are
// plain integers so one cache serves gVA-tagged guest/shadow walks and gPA-tagged nested walks.
#pragma once

#include "engine/mmu/counters.h"

#include <cstdint>
#include <vector>

namespace vmmu {

// Entries per level; 0 disables that level.
struct PwcConfig {
    uint32_t pml4e = 0, pdpte = 0, pde = 0;
};

struct PwcProbe {
    int level = 4;      // level whose table the walk reads next (4: nothing cached, from root)
    uint64_t table = 0; // that table's address (valid when level < 4)
    bool hit() const { return level < 4; }
};

class PageWalkCache {
public:
    PageWalkCache() = default;
    // counters (may be null) receives one lookup per probe and one hit when any level hits.
    PageWalkCache(const PwcConfig& config, WalkCounters* counters);

    bool enabled() const {
        return !levels_[0].empty() || !levels_[1].empty() || !levels_[2].empty();
    }

    // Deepest level cached for addr (PDE first, as hardware prefers the longest match).
    PwcProbe lookup(uint64_t addr, uint32_t context);
    // After reading a present non-leaf entry at `level` (4, 3 or 2) that points to next_table.
    // Tables are 4K-aligned, so callers may keep flags (e.g. accumulated permissions) in the
    // low 12 bits of next_table; lookup returns them unchanged.
    void fill(uint64_t addr, int level, uint64_t next_table, uint32_t context);

    // Entries that would be used to translate addr (a page fault on addr, SDM 4.10.4.1).
    void invalidate_address(uint64_t addr, uint32_t context);
    void flush_context(uint32_t context);
    void flush_all();

private:
    struct Entry {
        uint64_t tag = 0;
        uint64_t next = 0;
        uint64_t stamp = 0; // LRU: last use, from clock_
        uint32_t context = 0;
        bool valid = false;
    };
    // levels_[0] = PDE cache (level 2), [1] = PDPTE (3), [2] = PML4E (4).
    static unsigned slot(int level) { return static_cast<unsigned>(level - 2); }
    static uint64_t tag_of(uint64_t addr, int level) {
        return (addr & ((uint64_t{1} << 48) - 1)) >> (12 + 9 * (level - 1));
    }

    std::vector<Entry> levels_[3];
    uint64_t clock_ = 0;
    WalkCounters* counters_ = nullptr;
};

} // namespace vmmu
