#include "engine/output/walk_report.h"

#include "engine/output/provenance_json.h"

#include <fmt/format.h>

#include <string>
#include <vector>

namespace vmmu {
using ojson = nlohmann::ordered_json;

namespace {
// nL<levels>..nL1, then the guest entry (`guest`).
std::vector<std::string> grid_columns(const WalkGrid& g, const char* guest) {
    std::vector<std::string> cols;
    for (int nl = g.nested_levels; nl >= 1; --nl) cols.push_back(fmt::format("nL{}", nl));
    cols.emplace_back(guest);
    return cols;
}
} // namespace

std::string grid_text(const WalkGrid& g, bool warm) {
    static const char* rows[] = {"gL4 (CR3)", "gL3", "gL2", "gL1", "data gPA"};
    std::vector<std::string> cols = grid_columns(g, "guest entry");
    // Wider cells when they also name the cache level that served each reference.
    size_t width = 21;
    for (auto& row : g.rows)
        for (auto& cell : row)
            if (!cell.served.empty()) width = 29;
    std::string s = fmt::format("{:<10}", "");
    for (auto& c : cols) s += fmt::format("{:<{}}", c, width);
    s += "\n";
    for (int r = 0; r < 5; ++r) {
        s += fmt::format("{:<10}", rows[r]);
        for (int c = 0; c < static_cast<int>(cols.size()); ++c) {
            const GridCell& cell = g[r][c];
            std::string text;
            if (r == 4 && c == g.guest_column()) {
                text = "(the data access)";
            } else if (!cell.order) {
                text = "-";
            } else if (!warm) {
                text = fmt::format("{:>2} {:#x}", cell.order, cell.address);
                if (!cell.served.empty()) text += " " + cell.served;
            } else {
                text = cell.warm == "ref"
                           ? fmt::format("{:>2} read {}", cell.order, cell.warm_served)
                       : cell.warm.empty() ? fmt::format("{:>2} ?", cell.order)
                                           : fmt::format("{:>2} saved: {}", cell.order, cell.warm);
            }
            s += fmt::format("{:<{}}", text, width);
        }
        s += "\n";
    }
    return s;
}

ojson grid_json(const WalkGrid& g) {
    static const char* rows[] = {"gL4", "gL3", "gL2", "gL1", "data"};
    std::vector<std::string> cols = grid_columns(g, "guest");
    ojson out = ojson::array();
    for (int r = 0; r < 5; ++r)
        for (int c = 0; c < static_cast<int>(cols.size()); ++c) {
            const GridCell& cell = g[r][c];
            if (!cell.order) continue;
            out.push_back({{"order", cell.order},
                           {"row", rows[r]},
                           {"column", cols[c]},
                           {"hpa", fmt::format("{:#x}", cell.address)},
                           {"warm", cell.warm.empty() ? "none" : cell.warm}});
            if (!cell.served.empty()) out.back()["served"] = cell.served;
            if (!cell.warm_served.empty()) out.back()["warm_served"] = cell.warm_served;
        }
    return out;
}

namespace {

ojson refs_json(const std::vector<Ref1d>& refs) {
    ojson a = ojson::array();
    for (auto& r : refs) {
        a.push_back({{"level", r.level},
                     {"address", fmt::format("{:#x}", r.address)},
                     {"entry", fmt::format("{:#x}", r.entry)}});
        if (r.served != CacheLevel::Count)
            a.back()["served"] = kCacheLevelNames[static_cast<size_t>(r.served)];
    }
    return a;
}

std::string refs_text(const std::vector<Ref1d>& refs, const char* space) {
    std::string s;
    for (auto& r : refs)
        s += fmt::format(
            "  L{} entry at {} {:#014x} = {:#018x}{}\n", r.level, space, r.address, r.entry,
            r.served == CacheLevel::Count
                ? std::string()
                : fmt::format(" ({})", kCacheLevelNames[static_cast<size_t>(r.served)]));
    return s;
}

} // namespace

std::string walk_demo_text(const WalkDemo& d) {
    std::string s = fmt::format("translation of gVA {:#x} under guest root gPA {:#x} (the address "
                                "space current when the guest stopped)\n\n",
                                d.va, d.guest_root);
    for (const BackendWalk& b : d.backends) {
        const Walk1d& w = b.walk;
        if (b.shape == WalkShape::GuestTables) {
            s += fmt::format("{}: {} references, the guest's own tables (gPA == physical "
                             "address)\n{}\n",
                             b.name, w.refs.size(), refs_text(w.refs, "PA"));
        } else if (b.shape == WalkShape::ShadowTables) {
            s += fmt::format("{}: {} references to the hypervisor's shadow tables "
                             "(host-physical){}\n{}  -> hPA {:#x}\n\n",
                             b.name, w.refs.size(), w.filled ? ", after a hidden-fault fill" : "",
                             refs_text(w.refs, "hPA"), w.hpa.value());
        } else {
            const GridWalks& g = b.grid;
            s += fmt::format("{}: cold 2D walk, no page-walk caches or nested TLB: {} references "
                             "(host-physical addresses, in order)\n{}\n",
                             b.name, g.cold_references, grid_text(g.cold, false));
            s += fmt::format("{}: with the PWCs and nested TLB (NTLB), starting empty: {} "
                             "references; what the caches filled during this very walk saved\n"
                             "{}\n",
                             b.name, g.cached_from_empty_references,
                             grid_text(g.cached_from_empty, true));
            s += fmt::format("{}: the same walk again, caches warm: {} reference(s)\n{}\n", b.name,
                             g.warm_references, grid_text(g.warm, true));
        }
    }
    return s;
}

ojson walk_demo_json(const WalkDemo& d) {
    ojson out;
    out["schema"] = "vmmu.demo.walk/1";
    out["va"] = fmt::format("{:#x}", d.va);
    out["guest_cr3_root"] = fmt::format("{:#x}", d.guest_root);
    for (const BackendWalk& b : d.backends) {
        const Walk1d& w = b.walk;
        if (b.shape == WalkShape::GuestTables) {
            out[b.name] = {{"references", w.refs.size()}, {"refs", refs_json(w.refs)}};
        } else if (b.shape == WalkShape::ShadowTables) {
            out[b.name] = {{"references", w.refs.size()},
                           {"filled_by_hidden_fault", w.filled},
                           {"hpa", w.ok ? ojson(fmt::format("{:#x}", w.hpa.value())) : ojson()},
                           {"refs", refs_json(w.refs)}};
        } else {
            const GridWalks& g = b.grid;
            out[b.name] = {{"cold_references", g.cold_references},
                           {"cached_from_empty_references", g.cached_from_empty_references},
                           {"warm_references", g.warm_references},
                           {"ept_page_shift", g.ept_page_shift},
                           {"ept_levels", g.ept_levels},
                           {"cold_grid", grid_json(g.cold)},
                           {"cached_from_empty_grid", grid_json(g.cached_from_empty)},
                           {"warm_grid", grid_json(g.warm)}};
        }
    }
    out["provenance"] = provenance_json(tool_provenance());
    return out;
}

} // namespace vmmu
