#include "engine/experiment/walk_demo.h"

#include "engine/core/paging.h"
#include "vmmu/abi.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>
#include <utility>
#include <vector>

namespace vmmu {

int grid_row(int guest_level, int guest_levels) {
    return guest_level == 0 ? guest_levels : guest_levels - guest_level;
}

int grid_column(const WalkRef& r, int nested_levels) {
    return r.dimension == WalkDim::Guest ? nested_levels : nested_levels - r.nested_level;
}

namespace {
std::string served_name(const WalkRef& r) {
    return r.served == CacheLevel::Count
               ? std::string()
               : std::string(kCacheLevelNames[static_cast<size_t>(r.served)]);
}
} // namespace

WalkGrid walk_grid(const std::vector<WalkRef>& cold, const std::vector<WalkRef>* warm,
                   int nested_levels, int guest_levels) {
    WalkGrid g;
    g.nested_levels = nested_levels;
    g.guest_levels = guest_levels;
    auto row_of = [guest_levels](int gl) { return grid_row(gl, guest_levels); };
    int order = 0;
    for (const WalkRef& r : cold) {
        if (r.hit_in != HitIn::None) continue; // a cache hit is not a memory reference
        GridCell& c = g[row_of(r.guest_level)][grid_column(r, nested_levels)];
        if (c.order)
            throw std::logic_error(fmt::format("walk grid: two references in cell gL{} col {}",
                                               r.guest_level, grid_column(r, nested_levels)));
        c.order = ++order;
        c.address = r.address;
        c.served = served_name(r);
    }
    if (!warm) return g;
    for (const WalkRef& r : *warm) {
        int row = row_of(r.guest_level);
        if (r.hit_in == HitIn::None) {
            g[row][grid_column(r, nested_levels)].warm = "ref";
            g[row][grid_column(r, nested_levels)].warm_served = served_name(r);
        } else if (r.dimension == WalkDim::Guest) {
            // A guest PWC hit at level L+1 supplies the level-L table: rows above are skipped.
            for (int gl = guest_levels; gl >= r.guest_level; --gl)
                for (auto& c : g[row_of(gl)])
                    if (c.order && c.warm.empty()) c.warm = "PWC";
        } else if (r.hit_in == HitIn::Ntlb) {
            for (auto& c : g[row])
                if (c.order && c.warm.empty() && &c != &g[row][g.guest_column()]) c.warm = "NTLB";
        } else {
            // A nested PWC hit at level n+1 supplies the level-n EPT table of this row.
            for (int nl = nested_levels; nl >= r.nested_level; --nl) {
                GridCell& c = g[row][nested_levels - nl];
                if (c.order && c.warm.empty()) c.warm = "PWC";
            }
        }
    }
    return g;
}

int grid_references(const WalkGrid& g) {
    int n = 0;
    for (auto& row : g)
        for (auto& c : row) n += c.order != 0;
    return n;
}

namespace {

// Depth-first search for the first present leaf (4K only unless `large`) with lo <= va < hi.
// `top`: the root's level (the upper half of the root table is not canonical user space).
std::optional<uint64_t> first_leaf(const GuestMemory& m, uint64_t table, int level, uint64_t base,
                                   uint64_t lo, uint64_t hi, bool large, int top) {
    uint64_t span = uint64_t{1} << x86::leaf_shift(level);
    for (unsigned i = 0; i < 512; ++i) {
        uint64_t va = base + i * span;
        if (level == top && i >= 256) break;
        if (va + span <= lo || va >= hi) continue;
        GuestPhys entry(table + 8ull * i);
        if (!m.contains(entry, 8)) return std::nullopt;
        uint64_t e = m.read_u64(entry);
        if (!(e & x86::kPteP)) continue;
        if (level == 1) return va;
        if (e & x86::kPtePs) {
            if (large) return std::max(va, lo);
            continue;
        }
        if (auto r = first_leaf(m, e & x86::kPteAddrMask, level - 1, va, lo, hi, large, top))
            return r;
    }
    return std::nullopt;
}

// The first present large leaf (2M or 1G) with lo <= va < hi.
std::optional<uint64_t> first_large(const GuestMemory& m, uint64_t table, int level, uint64_t base,
                                    uint64_t lo, uint64_t hi, int top) {
    if (level == 1) return std::nullopt;
    uint64_t span = uint64_t{1} << x86::leaf_shift(level);
    for (unsigned i = 0; i < 512; ++i) {
        uint64_t va = base + i * span;
        if (level == top && i >= 256) break;
        if (va + span <= lo || va >= hi) continue;
        GuestPhys entry(table + 8ull * i);
        if (!m.contains(entry, 8)) return std::nullopt;
        uint64_t e = m.read_u64(entry);
        if (!(e & x86::kPteP)) continue;
        if (e & x86::kPtePs) return std::max(va, lo);
        if (auto r = first_large(m, e & x86::kPteAddrMask, level - 1, va, lo, hi, top)) return r;
    }
    return std::nullopt;
}

} // namespace

std::optional<uint64_t> pick_data_va(const GuestMemory& memory, GuestPhys root, int levels) {
    // User heap, mmap and stack regions (workloads/include/vmmu/abi.h) first: below the direct
    // map, and with 5 levels also above 2^48 (the mmap region and the stack).
    // A large page first, so that --guest-pages 2m shows one; then a 4K one.
    std::vector<std::pair<uint64_t, uint64_t>> user = {{VMMU_USER_DATA_BASE, VMMU_USER_STACK_TOP}};
    if (levels == 5) user.push_back({VMMU_LA57_HIGH, VMMU_USER_STACK_TOP_LA57});
    uint64_t r = root.value();
    for (auto [lo, hi] : user)
        if (auto va = first_large(memory, r, levels, 0, lo, hi, levels)) return va;
    for (auto [lo, hi] : user)
        if (auto va = first_leaf(memory, r, levels, 0, lo, hi, false, levels)) return va;
    return first_leaf(memory, r, levels, 0, memory.size(), uint64_t{1} << 47, false, levels);
}

bool canonical_va(uint64_t va, int levels) { return x86::canonical(va, levels); }

namespace {

GridWalks walk_grids(Inspector& in, GuestVirt va) {
    Walk2d cold = in.trace_2d(va, WalkCaches::None);
    Walk2d first = in.trace_2d(va, WalkCaches::FromEmpty);
    Walk2d again = in.trace_2d(va, WalkCaches::Warm);
    GridWalks g;
    g.cold_references = cold.references;
    g.cached_from_empty_references = first.references;
    g.warm_references = again.references;
    g.ept_page_shift = in.nested_page_shift();
    g.ept_levels = in.nested_levels();
    g.guest_levels = in.guest_levels();
    g.gpa = cold.gpa.value();
    g.hpa = cold.hpa.value();
    g.cold = walk_grid(cold.steps, nullptr, g.ept_levels, g.guest_levels);
    g.cached_from_empty = walk_grid(cold.steps, &first.steps, g.ept_levels, g.guest_levels);
    g.warm = walk_grid(cold.steps, &again.steps, g.ept_levels, g.guest_levels);
    return g;
}

} // namespace

WalkDemo explain_walks(const GuestMemory& memory,
                       const std::vector<std::unique_ptr<Backend>>& backends,
                       std::optional<uint64_t> va) {
    if (backends.empty())
        throw std::invalid_argument("--backends: the walk demo needs at least one backend");
    for (auto& b : backends)
        if (!b->inspector())
            throw std::invalid_argument(fmt::format(
                "--backends: backend '{}' cannot explain its walks (it has no inspector, "
                "engine/mmu/inspect.h: the demo draws one-dimensional and two-dimensional walks, "
                "and a scheme whose walk is neither, such as agile's shadowed-then-nested one, "
                "has none); leave it out of the walk demo (`vmmu run --backends {}` counts its "
                "references in each part)",
                b->name(), b->name()));
    // Every backend tracks the same guest CR3; take it from the first.
    GuestPhys root = backends.front()->inspector()->guest_root();
    int levels = backends.front()->inspector()->guest_levels();
    if (!va) va = pick_data_va(memory, root, levels);
    if (!va)
        throw std::invalid_argument(
            "no mapped data address in the address space current then (the process running at "
            "that moment maps no user data); give one with --va, or choose another moment");
    WalkDemo out;
    out.va = *va;
    out.guest_root = root.value();
    out.guest = guest_walk(memory, root, GuestVirt(*va), levels);
    const Ref1d* leaf = out.guest.empty() ? nullptr : &out.guest.back();
    if (!leaf || !(leaf->entry & x86::kPteP)) {
        std::optional<uint64_t> mapped = pick_data_va(memory, root, levels);
        throw WalkFault(fmt::format(
            "--va {:#x}: page fault: the guest has no present mapping for it ({}); every "
            "scheme's walk would fault{}",
            *va,
            leaf ? fmt::format("its gL{} entry at gPA {:#x} is {:#x}, not present", leaf->level,
                               leaf->address, leaf->entry)
                 : "its root table is outside guest memory",
            mapped ? fmt::format("; a mapped data address now: --va {:#x}", *mapped) : ""));
    }
    uint64_t page = uint64_t{1} << x86::leaf_shift(leaf->level);
    out.gpa = (leaf->entry & x86::kPteAddrMask & ~(page - 1)) | (*va & (page - 1));
    for (auto& b : backends) {
        Inspector& in = *b->inspector();
        BackendWalk w;
        w.name = b->name();
        w.shape = in.walk_shape();
        if (w.shape == WalkShape::TwoDimensional) {
            w.grid = walk_grids(in, GuestVirt(*va));
        } else if (w.shape == WalkShape::Mixed) {
            w.mixed = in.trace_mixed(GuestVirt(*va));
            w.mixed_grid =
                walk_grid(w.mixed.nested.steps, nullptr, in.nested_levels(), in.guest_levels());
            w.mixed_ept_page_shift = in.nested_page_shift();
        } else {
            w.walk = in.walk_1d(GuestVirt(*va));
        }
        out.backends.push_back(std::move(w));
    }
    return out;
}

} // namespace vmmu
