#include "engine/output/walk_report.h"

#include "engine/output/provenance_json.h"
#include "engine/core/paging.h"

#include <fmt/format.h>

#include <algorithm>
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
// Row names: gL<guest_levels>..gL1, then the data row; the top row labelled `root` if given.
std::vector<std::string> grid_rows(const WalkGrid& g, const char* root, const char* data) {
    std::vector<std::string> rows;
    for (int gl = g.guest_levels; gl >= 1; --gl)
        rows.push_back(fmt::format("gL{}{}", gl, gl == g.guest_levels ? root : ""));
    rows.emplace_back(data);
    return rows;
}
} // namespace

namespace {
// Cache levels in a grid cell: short, so that a grid fits 100 columns.
std::string short_level(const std::string& served) { return served == "memory" ? "mem" : served; }
} // namespace

std::string grid_text(const WalkGrid& g, bool warm) {
    std::vector<std::string> rows = grid_rows(g, " (CR3)", "data gPA");
    std::vector<std::string> cols = grid_columns(g, "guest entry");
    auto cell_text = [&](int r, int c, bool served) {
        const GridCell& cell = g[r][c];
        if (r == g.data_row() && c == g.guest_column()) return std::string("(data)");
        if (!cell.order) return std::string("-");
        if (!warm) {
            std::string t = fmt::format("{:>2} {:#x}", cell.order, cell.address);
            if (served && !cell.served.empty()) t += " " + short_level(cell.served);
            return t;
        }
        if (cell.warm == "ref")
            return fmt::format("{:>2} read {}", cell.order, short_level(cell.warm_served));
        if (cell.warm.empty()) return fmt::format("{:>2} ?", cell.order);
        return fmt::format("{:>2} saved: {}", cell.order, cell.warm);
    };
    // Each column as wide as its widest cell; the cache levels of a cold grid are left out
    // when they would push it past 100 columns (the JSON always has them).
    auto widths = [&](bool served) {
        std::vector<size_t> w(cols.size());
        for (size_t c = 0; c < cols.size(); ++c) {
            w[c] = cols[c].size() + 1;
            for (int r = 0; r < g.row_count(); ++r)
                w[c] = std::max(w[c], cell_text(r, static_cast<int>(c), served).size() + 1);
        }
        return w;
    };
    bool served = true;
    std::vector<size_t> w = widths(true);
    size_t total = 10;
    for (size_t x : w) total += x;
    if (total > 100) {
        served = false;
        w = widths(false);
    }
    std::string s = fmt::format("{:<10}", "");
    for (size_t c = 0; c < cols.size(); ++c) s += fmt::format("{:<{}}", cols[c], w[c]);
    while (!s.empty() && s.back() == ' ') s.pop_back();
    s += "\n";
    for (int r = 0; r < g.row_count(); ++r) {
        std::string line = fmt::format("{:<10}", rows[r]);
        for (size_t c = 0; c < cols.size(); ++c)
            line += fmt::format("{:<{}}", cell_text(r, static_cast<int>(c), served), w[c]);
        while (!line.empty() && line.back() == ' ') line.pop_back();
        s += line + "\n";
    }
    return s;
}

ojson grid_json(const WalkGrid& g) {
    std::vector<std::string> rows = grid_rows(g, "", "data");
    std::vector<std::string> cols = grid_columns(g, "guest");
    ojson out = ojson::array();
    for (int r = 0; r < g.row_count(); ++r)
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

std::string decode_entry(uint64_t e, int level, const char* space) {
    if (!(e & x86::kPteP)) return "not present: page fault";
    std::string flags = "P";
    flags += e & x86::kPteW ? " W" : " RO";
    flags += e & x86::kPteU ? " U" : " S";
    if (e & x86::kPteNx) flags += " NX";
    bool leaf = level == 1 || (e & x86::kPtePs);
    std::string sp = *space ? std::string(space) + " " : std::string();
    if (!leaf) return fmt::format("{} -> table {}{:#x}", flags, sp, e & x86::kPteAddrMask);
    unsigned shift = x86::leaf_shift(level);
    static const char* sizes[] = {"4K", "2M", "1G"};
    return fmt::format("{}{} -> {} page {}{:#x}", flags, level > 1 ? " PS" : "",
                       sizes[(shift - 12) / 9], sp,
                       e & x86::kPteAddrMask & ~((uint64_t{1} << shift) - 1));
}

namespace {

ojson refs_json(const std::vector<Ref1d>& refs) {
    ojson a = ojson::array();
    for (auto& r : refs) {
        a.push_back({{"level", r.level},
                     {"address", fmt::format("{:#x}", r.address)},
                     {"entry", fmt::format("{:#x}", r.entry)},
                     {"decoded", decode_entry(r.entry, r.level, "")}});
        if (r.served != CacheLevel::Count)
            a.back()["served"] = kCacheLevelNames[static_cast<size_t>(r.served)];
    }
    return a;
}

// `space`: where the entries are read; `target`: the space their addresses name (the same
// unless given: agile's shadow pages, in host memory, hold guest entries).
std::string refs_text(const std::vector<Ref1d>& refs, const char* space,
                      const char* target = nullptr) {
    std::string s;
    for (auto& r : refs)
        s += fmt::format(
            "  L{} at {} {:#011x} = {:#018x}  {}{}\n", r.level, space, r.address, r.entry,
            decode_entry(r.entry, r.level, target ? target : space),
            r.served == CacheLevel::Count
                ? std::string()
                : fmt::format(" ({})", kCacheLevelNames[static_cast<size_t>(r.served)]));
    return s;
}

} // namespace

std::string walk_demo_text(const WalkDemo& d) {
    std::string s = fmt::format(
        "translation of gVA {:#x} under guest root gPA {:#x}\n(the address space current at {})"
        "\n\nthe guest's page tables, which every scheme translates: gVA {:#x} -> gPA {:#x}\n{}\n",
        d.va, d.guest_root, d.moment.empty() ? "the end of the run" : d.moment, d.va, d.gpa,
        refs_text(d.guest, "gPA"));
    for (const BackendWalk& b : d.backends) {
        const Walk1d& w = b.walk;
        if (b.shape == WalkShape::GuestTables) {
            s += fmt::format(
                "{}: {} references, the guest's own tables (gPA == physical "
                "address)\n{}  -> PA {:#x} (the model keeps guest memory at hPA {:#x})\n\n",
                b.name, w.refs.size(), refs_text(w.refs, "PA"), d.gpa, w.hpa.value());
        } else if (b.shape == WalkShape::ShadowTables) {
            s += fmt::format("{}: {} references to the hypervisor's shadow tables "
                             "(host-physical){}\n{}  -> hPA {:#x}\n\n",
                             b.name, w.refs.size(), w.filled ? ", after a hidden-fault fill" : "",
                             refs_text(w.refs, "hPA"), w.hpa.value());
        } else if (b.shape == WalkShape::Mixed) {
            const WalkMixed& m = b.mixed;
            s += fmt::format("{}: {} references: {} to the hypervisor's shadow pages "
                             "(host-physical, holding the guest's entries){}\n{}",
                             b.name, m.references(), m.shadowed.size(),
                             m.filled ? ", after hidden-fault fills" : "",
                             refs_text(m.shadowed, "hPA", "gPA"));
            if (m.switch_level == 0)
                s += fmt::format("  -> hPA {:#x} (every level shadowed: a 1D walk)\n\n",
                                 m.hpa.value());
            else
                s +=
                    fmt::format("  then gL{} is in nested mode: a cold 2D walk from there, {} "
                                "references (no page-walk caches or nested TLB)\n{}  -> data "
                                "gPA {:#x} -> hPA {:#x}\n\n",
                                m.switch_level, m.nested.references, grid_text(b.mixed_grid, false),
                                m.nested.gpa.value(), m.hpa.value());
        } else {
            const GridWalks& g = b.grid;
            s += fmt::format("{}: cold 2D walk, no page-walk caches (PWC) or nested TLB (NTLB): "
                             "{} references\n(host-physical addresses, in order; EPT pages {})\n"
                             "{}  -> data gPA {:#x} -> hPA {:#x}\n\n",
                             b.name, g.cold_references,
                             g.ept_page_shift == 30   ? "1G"
                             : g.ept_page_shift == 21 ? "2M"
                                                      : "4K",
                             grid_text(g.cold, false), g.gpa, g.hpa);
            s += fmt::format("{}: with the PWCs and NTLB, starting empty: {} references;\n"
                             "what the caches filled during this very walk saved\n{}\n",
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
    out["moment"] = d.moment.empty() ? "end of run" : d.moment;
    out["gpa"] = fmt::format("{:#x}", d.gpa);
    out["guest_walk"] = refs_json(d.guest);
    for (const BackendWalk& b : d.backends) {
        const Walk1d& w = b.walk;
        if (b.shape == WalkShape::GuestTables) {
            out[b.name] = {{"references", w.refs.size()},
                           {"pa", fmt::format("{:#x}", w.hpa.value())},
                           {"refs", refs_json(w.refs)}};
        } else if (b.shape == WalkShape::ShadowTables) {
            out[b.name] = {{"references", w.refs.size()},
                           {"filled_by_hidden_fault", w.filled},
                           {"hpa", w.ok ? ojson(fmt::format("{:#x}", w.hpa.value())) : ojson()},
                           {"refs", refs_json(w.refs)}};
        } else if (b.shape == WalkShape::Mixed) {
            const WalkMixed& m = b.mixed;
            out[b.name] = {{"references", m.references()},
                           {"shadowed_references", m.shadowed.size()},
                           {"filled_by_hidden_fault", m.filled},
                           {"switch_level", m.switch_level},
                           {"nested_references", m.nested.references},
                           {"ept_page_shift", b.mixed_ept_page_shift},
                           {"ept_levels", b.mixed_grid.nested_levels},
                           {"guest_levels", b.mixed_grid.guest_levels},
                           {"hpa", m.ok ? ojson(fmt::format("{:#x}", m.hpa.value())) : ojson()},
                           {"shadowed", refs_json(m.shadowed)},
                           {"nested_grid", grid_json(b.mixed_grid)}};
        } else {
            const GridWalks& g = b.grid;
            out[b.name] = {{"cold_references", g.cold_references},
                           {"cached_from_empty_references", g.cached_from_empty_references},
                           {"warm_references", g.warm_references},
                           {"ept_page_shift", g.ept_page_shift},
                           {"ept_levels", g.ept_levels},
                           {"guest_levels", g.guest_levels},
                           {"gpa", fmt::format("{:#x}", g.gpa)},
                           {"hpa", fmt::format("{:#x}", g.hpa)},
                           {"cold_grid", grid_json(g.cold)},
                           {"cached_from_empty_grid", grid_json(g.cached_from_empty)},
                           {"warm_grid", grid_json(g.warm)}};
        }
    }
    out["provenance"] = provenance_json(tool_provenance());
    return out;
}

} // namespace vmmu
