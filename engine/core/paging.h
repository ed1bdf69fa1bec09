// x86-64 4-level and 5-level paging: a reference walker and address helpers (Intel SDM vol. 3,
// chapter 4.5; the entry bits are in engine/core/x86.h). With CR4.LA57 a PML5 table sits above
// the PML4 and linear addresses have 57 bits; everything below the PML4 is the same.
//
// The walker is generic over how a table entry is read, so the functional layer (reading guest
// memory), the MMU models (counting each reference) and tests (hand-built tables) share it.
#pragma once

#include "engine/core/addr.h"
#include "engine/core/x86.h"

#include <array>
#include <cstdint>

namespace vmmu::x86 {

inline GuestPhys cr3_root(uint64_t cr3) { return GuestPhys(cr3 & kPteAddrMask); }
inline uint16_t cr3_pcid(uint64_t cr3) { return static_cast<uint16_t>(cr3 & kCr3PcidMask); }

// Paging levels: 4 (PML4 root) or 5 (PML5 root, CR4.LA57).
constexpr int kMaxLevels = 5;
constexpr int paging_levels(uint64_t cr4) { return (cr4 & kCr4La57) ? 5 : 4; }

// Index into the table of `level` (5 = PML5, 4 = PML4 ... 1 = PT) for a virtual address.
constexpr unsigned table_index(uint64_t va, int level) {
    return static_cast<unsigned>((va >> (12 + 9 * (level - 1))) & 0x1ff);
}
// The same for a typed address: a gVA indexes guest and shadow tables, a gPA the EPT.
constexpr unsigned table_index(GuestVirt va, int level) { return table_index(va.value(), level); }
constexpr unsigned table_index(GuestPhys pa, int level) { return table_index(pa.value(), level); }
// Page shift of a leaf found at `level` (1: 4K, 2: 2M, 3: 1G).
constexpr unsigned leaf_shift(int level) { return 12 + 9 * (level - 1); }
// A canonical address: bits 63:47 all equal (4 levels), bits 63:56 (5 levels).
constexpr bool canonical(uint64_t va, int levels = 4) {
    unsigned bits = levels == 5 ? 56 : 47;
    uint64_t top = va >> bits, all = (uint64_t{1} << (64 - bits)) - 1;
    return top == 0 || top == all;
}

struct WalkStep {
    int level = 0;      // 5 or 4 .. 1
    GuestPhys entry_pa; // where the entry was read
    uint64_t entry = 0; // its value
};

struct WalkResult {
    bool ok = false; // a present leaf was found
    GuestPhys pa;    // translation of the walked address (valid when ok)
    unsigned page_shift = 12;
    bool writable = true;   // AND of W over all levels
    bool user = true;       // AND of U over all levels
    bool executable = true; // no level has NX
    bool global = false;    // leaf G bit
    int fault_level = 0;    // level of the not-present entry when !ok
    int steps = 0;          // entries read
    std::array<WalkStep, kMaxLevels> step{};
    GuestPhys leaf_entry_pa() const { return step[steps - 1].entry_pa; }
};

// Walks the `levels`-level tables rooted at `root` for `va`. read_entry(GuestPhys) -> uint64_t.
template <class ReadEntry>
WalkResult walk(GuestPhys root, uint64_t va, ReadEntry&& read_entry, int levels = 4) {
    WalkResult r;
    GuestPhys table = root;
    for (int level = levels; level >= 1; --level) {
        GuestPhys entry_pa = table + 8ull * table_index(va, level);
        uint64_t e = read_entry(entry_pa);
        r.step[r.steps++] = {level, entry_pa, e};
        if (!(e & kPteP)) {
            r.fault_level = level;
            return r;
        }
        r.writable = r.writable && (e & kPteW);
        r.user = r.user && (e & kPteU);
        r.executable = r.executable && !(e & kPteNx);
        bool leaf = level == 1 || ((level == 2 || level == 3) && (e & kPtePs));
        if (leaf) {
            unsigned shift = leaf_shift(level);
            uint64_t base = e & kPteAddrMask & ~((1ull << shift) - 1);
            r.ok = true;
            r.page_shift = shift;
            r.global = e & kPteG;
            r.pa = GuestPhys(base | (va & ((1ull << shift) - 1)));
            return r;
        }
        table = GuestPhys(e & kPteAddrMask);
    }
    return r;
}
template <class ReadEntry>
WalkResult walk(GuestPhys root, GuestVirt va, ReadEntry&& read_entry, int levels = 4) {
    return walk(root, va.value(), read_entry, levels);
}

} // namespace vmmu::x86
