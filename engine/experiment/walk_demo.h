// `vmmu demo walk`: one data address translated step by step under each backend. For slat, the
// 2D walk laid out as the classic grid (Bhargava et al., ASPLOS 2008, fig. 3): rows are the
// guest levels (gL4..gL1) and the final data gPA, columns the nested (EPT) levels nL4..nL1 (nL5
// first under 5-level EPT) and the guest entry read itself. A cold 4×4 walk fills 24 of its 25
// cells, a cold 4×5 walk 29 of 30; the last cell is the data access, not a walk reference.
#pragma once

#include "engine/core/guest_memory.h"
#include "engine/mmu/backend.h"
#include "engine/mmu/inspect.h"

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace vmmu {

struct GridCell {
    int order = 0;        // 1-based position in the cold walk; 0: no reference here
    uint64_t address = 0; // host-physical address the cold walk referenced
    std::string warm;     // the same cell in the warm walk: "ref", "PWC", "NTLB", or ""
    // With caches modelled: the level that served the cold reference ("l1", "l2", "llc",
    // "memory"), and the warm walk's (when it read the cell again); "" otherwise.
    std::string served, warm_served;
};
// Rows gL<guest_levels>..gL1 and data; columns nL<nested_levels>..nL1, then the guest entry.
struct WalkGrid {
    using Row = std::array<GridCell, 6>;
    int nested_levels = 4;
    int guest_levels = 4; // 5 with CR4.LA57: a gL5 row on top
    std::array<Row, 6> rows{};
    Row& operator[](size_t r) { return rows[r]; }
    const Row& operator[](size_t r) const { return rows[r]; }
    // The rows in use: guest_levels + 1.
    int row_count() const { return guest_levels + 1; }
    auto begin() { return rows.begin(); }
    auto end() { return rows.begin() + row_count(); }
    auto begin() const { return rows.begin(); }
    auto end() const { return rows.begin() + row_count(); }
    int guest_column() const { return nested_levels; }
    int data_row() const { return guest_levels; }
};

// Grid row of a guest level (guest_levels..1 -> 0..guest_levels-1, data -> guest_levels) and
// column of a reference (nested level nested_levels..1 -> 0..nested_levels-1, a guest entry ->
// nested_levels).
int grid_row(int guest_level, int guest_levels = 4);
int grid_column(const WalkRef& r, int nested_levels = 4);

// Lays out the memory references of a cold walk; marks what the warm walk of the same address
// referenced again and what its caches supplied instead. Throws std::logic_error if two
// references land in one cell.
WalkGrid walk_grid(const std::vector<WalkRef>& cold, const std::vector<WalkRef>* warm,
                   int nested_levels = 4, int guest_levels = 4);
int grid_references(const WalkGrid& g);

// A user data address with a present mapping under root (the first in address order, any page
// size), or any 4K-mapped data address if no user one exists. `levels`: the guest's paging
// levels (with 5, user regions above 2^48 count too).
std::optional<uint64_t> pick_data_va(const GuestMemory& memory, GuestPhys root, int levels = 4);

// x86-64's canonical form: bits 63..47 of a gVA all equal with 4 levels, bits 63..56 with 5.
bool canonical_va(uint64_t va, int levels = 4);

// The guest has no present mapping for the address asked: its walk faults.
struct WalkFault : std::invalid_argument {
    using std::invalid_argument::invalid_argument;
};

// A 2D walk of one address three times: cold (no caches), with the caches starting empty, and
// again with them warm. The cached grids mark what each walk read or its caches saved.
struct GridWalks {
    uint64_t cold_references = 0;
    uint64_t cached_from_empty_references = 0;
    uint64_t warm_references = 0;
    unsigned ept_page_shift = 0;
    int ept_levels = 4;
    int guest_levels = 4;
    uint64_t gpa = 0, hpa = 0;  // the data's guest- and host-physical address
    WalkGrid cold;              // no warm marks
    WalkGrid cached_from_empty; // marked by the walk that started with empty caches
    WalkGrid warm;              // marked by the walk with warm caches
};

// One backend's translation: walk_1d's result for a 1D shape, grid for a 2D one, the shadowed
// part and the 2D part's grid for a mixed one.
struct BackendWalk {
    std::string name;
    WalkShape shape = WalkShape::GuestTables;
    Walk1d walk; // GuestTables, ShadowTables
    GridWalks grid;
    WalkMixed mixed;     // Mixed
    WalkGrid mixed_grid; // Mixed: the 2D part's cold references (rows above the switch empty)
    unsigned mixed_ept_page_shift = 12;
};

struct WalkDemo {
    uint64_t va = 0;
    uint64_t guest_root = 0;  // gPA of the guest CR3 root
    std::vector<Ref1d> guest; // the guest's own walk of va (gPAs), root level first
    uint64_t gpa = 0;         // va's guest-physical address
    std::string moment;       // when the walk was taken, in words ("" : when the guest stopped)
    std::vector<BackendWalk> backends;
};
// Each backend's translation of va (default: pick_data_va under the guest root), through its
// Inspector (engine/mmu/inspect.h), by the shape of its walk; engine/output/walk_report.h
// formats it. Throws std::invalid_argument if there is no backend, one has no inspector, or no
// address is found; WalkFault if the guest has no present mapping for va.
WalkDemo explain_walks(const GuestMemory& memory,
                       const std::vector<std::unique_ptr<Backend>>& backends,
                       std::optional<uint64_t> va);

} // namespace vmmu
