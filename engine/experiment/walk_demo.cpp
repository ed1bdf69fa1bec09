#include "engine/experiment/walk_demo.h"

#include "engine/core/paging.h"
#include "vmmu/abi.h"

#include <fmt/format.h>

#include <stdexcept>

namespace vmmu {
using ojson = nlohmann::ordered_json;

int grid_row(int guest_level) { return guest_level == 0 ? 4 : 4 - guest_level; }

int grid_column(const WalkRef& r) { return r.dimension == WalkDim::Guest ? 4 : 4 - r.nested_level; }

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
                text = cell.warm == "ref"  ? fmt::format("{:>2} read", cell.order)
                       : cell.warm.empty() ? fmt::format("{:>2} ?", cell.order)
                                           : fmt::format("{:>2} saved: {}", cell.order, cell.warm);
            }
            s += fmt::format("{:<21}", text);
        }
        s += "\n";
    }
    return s;
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

namespace {

ojson refs_json(const std::vector<Ref1d>& refs) {
    ojson a = ojson::array();
    for (auto& r : refs)
        a.push_back({{"level", r.level},
                     {"address", fmt::format("{:#x}", r.address)},
                     {"entry", fmt::format("{:#x}", r.entry)}});
    return a;
}

std::string refs_text(const std::vector<Ref1d>& refs, const char* space) {
    std::string s;
    for (auto& r : refs)
        s += fmt::format("  L{} entry at {} {:#014x} = {:#018x}\n", r.level, space, r.address,
                         r.entry);
    return s;
}

void explain_2d(Inspector& in, const std::string& name, GuestVirt va, WalkDemo& out) {
    Walk2d cold = in.trace_2d(va, WalkCaches::None);
    Walk2d first = in.trace_2d(va, WalkCaches::FromEmpty);
    Walk2d again = in.trace_2d(va, WalkCaches::Warm);
    WalkGrid gf = walk_grid(cold.steps, &first.steps), ga = walk_grid(cold.steps, &again.steps);
    out.json[name] = {{"cold_references", cold.references},
                      {"cached_from_empty_references", first.references},
                      {"warm_references", again.references},
                      {"ept_page_shift", in.nested_page_shift()},
                      {"cold_grid", grid_json(walk_grid(cold.steps, nullptr))},
                      {"cached_from_empty_grid", grid_json(gf)},
                      {"warm_grid", grid_json(ga)}};
    out.text += fmt::format("{}: cold 2D walk, no page-walk caches or nested TLB: {} references "
                            "(host-physical addresses, in order)\n{}\n",
                            name, cold.references, grid_text(gf, false));
    out.text += fmt::format("{}: with the PWCs and nested TLB (NTLB), starting empty: {} "
                            "references; what the caches filled during this very walk saved\n"
                            "{}\n",
                            name, first.references, grid_text(gf, true));
    out.text += fmt::format("{}: the same walk again, caches warm: {} reference(s)\n{}\n", name,
                            again.references, grid_text(ga, true));
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
                "engine/mmu/inspect.h); leave it out of the walk demo",
                b->name()));
    // Every backend tracks the same guest CR3; take it from the first.
    GuestPhys root = backends.front()->inspector()->guest_root();
    if (!va) va = pick_data_va(memory, root);
    if (!va)
        throw std::invalid_argument("no 4K-mapped data address in the final address space; give "
                                    "one with --va");
    WalkDemo out;
    out.json["schema"] = "vmmu.demo.walk/1";
    out.json["va"] = fmt::format("{:#x}", *va);
    out.json["guest_cr3_root"] = fmt::format("{:#x}", root.value());
    out.text += fmt::format("translation of gVA {:#x} under guest root gPA {:#x} (the address "
                            "space current when the guest stopped)\n\n",
                            *va, root.value());
    for (auto& b : backends) {
        Inspector& in = *b->inspector();
        std::string name = b->name();
        if (in.walk_shape() == WalkShape::GuestTables) {
            Walk1d w = in.walk_1d(GuestVirt(*va));
            out.json[name] = {{"references", w.refs.size()}, {"refs", refs_json(w.refs)}};
            out.text += fmt::format("{}: {} references, the guest's own tables (gPA == physical "
                                    "address)\n{}\n",
                                    name, w.refs.size(), refs_text(w.refs, "PA"));
        } else if (in.walk_shape() == WalkShape::ShadowTables) {
            Walk1d w = in.walk_1d(GuestVirt(*va));
            out.json[name] = {{"references", w.refs.size()},
                              {"filled_by_hidden_fault", w.filled},
                              {"hpa", w.ok ? ojson(fmt::format("{:#x}", w.hpa.value())) : ojson()},
                              {"refs", refs_json(w.refs)}};
            out.text +=
                fmt::format("{}: {} references to the hypervisor's shadow tables "
                            "(host-physical){}\n{}  -> hPA {:#x}\n\n",
                            name, w.refs.size(), w.filled ? ", after a hidden-fault fill" : "",
                            refs_text(w.refs, "hPA"), w.hpa.value());
        } else {
            explain_2d(in, name, GuestVirt(*va), out);
        }
    }
    return out;
}

} // namespace vmmu
