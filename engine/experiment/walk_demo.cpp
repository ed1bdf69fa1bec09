#include "engine/experiment/walk_demo.h"

#include "engine/core/paging.h"
#include "vmmu/abi.h"

#include <fmt/format.h>

#include <stdexcept>

namespace vmmu {
using ojson = nlohmann::ordered_json;

int grid_row(int guest_level) { return guest_level == 0 ? 4 : 4 - guest_level; }

int grid_column(const WalkRef& r) {
    return r.dimension == WalkDim::Guest ? 4 : 4 - r.nested_level;
}

WalkGrid walk_grid(const std::vector<WalkRef>& cold, const std::vector<WalkRef>* warm) {
    WalkGrid g;
    int order = 0;
    for (const WalkRef& r : cold) {
        if (r.hit_in != HitIn::None) continue; // a cache hit is not a memory reference
        GridCell& c = g[grid_row(r.guest_level)][grid_column(r)];
        if (c.order)
            throw std::logic_error(fmt::format("walk grid: two references in cell gL{} col {}",
                                               r.guest_level, grid_column(r)));
        c.order = ++order;
        c.address = r.address;
    }
    if (!warm) return g;
    for (const WalkRef& r : *warm) {
        int row = grid_row(r.guest_level);
        if (r.hit_in == HitIn::None) {
            g[row][grid_column(r)].warm = "ref";
        } else if (r.dimension == WalkDim::Guest) {
            // A guest PWC hit at level L+1 supplies the level-L table: rows above are skipped.
            for (int gl = 4; gl >= r.guest_level; --gl)
                for (auto& c : g[grid_row(gl)])
                    if (c.order && c.warm.empty()) c.warm = "PWC";
        } else if (r.hit_in == HitIn::Ntlb) {
            for (auto& c : g[row])
                if (c.order && c.warm.empty() && &c != &g[row][4]) c.warm = "NTLB";
        } else {
            // A nested PWC hit at level n+1 supplies the level-n EPT table of this row.
            for (int nl = 4; nl >= r.nested_level; --nl) {
                GridCell& c = g[row][4 - nl];
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

std::string grid_text(const WalkGrid& g, bool warm) {
    static const char* rows[] = {"gL4 (CR3)", "gL3", "gL2", "gL1", "data gPA"};
    static const char* cols[] = {"nL4", "nL3", "nL2", "nL1", "guest entry"};
    std::string s = fmt::format("{:<10}", "");
    for (auto* c : cols) s += fmt::format("{:<21}", c);
    s += "\n";
    for (int r = 0; r < 5; ++r) {
        s += fmt::format("{:<10}", rows[r]);
        for (int c = 0; c < 5; ++c) {
            const GridCell& cell = g[r][c];
            std::string text;
            if (r == 4 && c == 4) {
                text = "(the data access)";
            } else if (!cell.order) {
                text = "-";
            } else if (!warm) {
                text = fmt::format("{:>2} {:#x}", cell.order, cell.address);
            } else {
                text = cell.warm == "ref" ? fmt::format("{:>2} read", cell.order)
                       : cell.warm.empty() ? fmt::format("{:>2} ?", cell.order)
                                           : fmt::format("{:>2} saved: {}", cell.order, cell.warm);
            }
            s += fmt::format("{:<21}", text);
        }
        s += "\n";
    }
    return s;
}

std::vector<Ref1d> guest_walk(const GuestMemory& memory, GuestPhys root, uint64_t va) {
    std::vector<Ref1d> refs;
    uint64_t table = root.value();
    for (int level = 4; level >= 1; --level) {
        GuestPhys entry(table + 8ull * x86::table_index(va, level));
        if (!memory.contains(entry, 8)) break;
        uint64_t e = memory.read_u64(entry);
        refs.push_back({level, entry.value(), e});
        if (!(e & x86::kPteP) || level == 1 || (e & x86::kPtePs)) break;
        table = e & x86::kPteAddrMask;
    }
    return refs;
}

namespace {

// Depth-first search for the first present 4K leaf with lo <= va < hi.
std::optional<uint64_t> first_4k(const GuestMemory& m, uint64_t table, int level, uint64_t base,
                                 uint64_t lo, uint64_t hi) {
    uint64_t span = uint64_t{1} << x86::leaf_shift(level);
    for (unsigned i = 0; i < 512; ++i) {
        uint64_t va = base + i * span;
        if (level == 4 && i >= 256) break; // the upper half is not canonical user space
        if (va + span <= lo || va >= hi) continue;
        GuestPhys entry(table + 8ull * i);
        if (!m.contains(entry, 8)) return std::nullopt;
        uint64_t e = m.read_u64(entry);
        if (!(e & x86::kPteP)) continue;
        if (level == 1) return va;
        if (e & x86::kPtePs) continue;
        if (auto r = first_4k(m, e & x86::kPteAddrMask, level - 1, va, lo, hi)) return r;
    }
    return std::nullopt;
}

} // namespace

std::optional<uint64_t> pick_data_va(const GuestMemory& memory, GuestPhys root) {
    // User heap, mmap and stack regions (workloads/include/vmmu/abi.h) first.
    if (auto va = first_4k(memory, root.value(), 4, 0, VMMU_USER_DATA_BASE, VMMU_USER_STACK_TOP))
        return va;
    return first_4k(memory, root.value(), 4, 0, memory.size(), uint64_t{1} << 47);
}

ojson grid_json(const WalkGrid& g) {
    static const char* rows[] = {"gL4", "gL3", "gL2", "gL1", "data"};
    static const char* cols[] = {"nL4", "nL3", "nL2", "nL1", "guest"};
    ojson out = ojson::array();
    for (int r = 0; r < 5; ++r)
        for (int c = 0; c < 5; ++c) {
            const GridCell& cell = g[r][c];
            if (!cell.order) continue;
            out.push_back({{"order", cell.order},
                           {"row", rows[r]},
                           {"column", cols[c]},
                           {"hpa", fmt::format("{:#x}", cell.address)},
                           {"warm", cell.warm.empty() ? "none" : cell.warm}});
        }
    return out;
}

} // namespace vmmu
