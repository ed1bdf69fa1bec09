#include "engine/output/exits_report.h"

#include "engine/output/provenance_json.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>

namespace vmmu {
using ojson = nlohmann::ordered_json;

std::string exit_address_kind(const std::string& reason) {
    if (reason == "invlpg" || reason == "pf_hidden" || reason == "pf_guest") return "gVA";
    if (reason == "pt_write" || reason == "ept_violation") return "gPA";
    if (reason == "cr3_write" || reason == "hv_switch_as") return "CR3";
    if (reason == "io") return "port";
    return "-";
}

std::string demo_glossary() {
    return R"(glossary
  fill         shadow paging: the hypervisor builds the missing shadow entry from the guest's
               page tables (after a pf_hidden exit)
  pf_hidden    a page fault the guest never sees: the shadow tables lacked an entry the guest's
               tables have; the hypervisor fills it and resumes the guest
  pf_guest     a page fault the guest's own tables cause; the hypervisor reflects it (#PF)
  pt_write     a guest write to a write-protected page table, emulated by the hypervisor
  unsync       the hypervisor stops write-protecting a guest page table and lets the guest
               write it freely, until the next resync
  resync       the hypervisor brings the shadow entries of unsynced tables up to date (at a
               CR3 write or invlpg, where the guest expects its edits to take effect)
  ept_violation  slat: the first touch of a guest frame the nested (EPT) tables do not map yet
  PWC          page-walk cache: keeps upper-level page-table entries so a walk skips levels
  NTLB         nested TLB: caches gPA -> hPA translations, saving a whole nested walk
  gVA gPA hPA  guest-virtual, guest-physical and host-physical addresses
)";
}

namespace {
std::string fit(const std::string& s, size_t width) {
    return s.size() <= width ? s : s.substr(0, width - 3) + "...";
}
} // namespace

std::string exits_demo_text(const ExitsDemo& d) {
    std::string s = fmt::format(
        "VM exits under {}, workload {}: first {} of {}\n({}{})\n", d.backend, d.workload,
        d.exits.size(), d.total_exits, d.from.empty() ? "from boot" : d.from,
        d.reasons.empty() ? "" : fmt::format("; reasons {}", fmt::join(d.reasons, ",")));
    std::vector<std::array<std::string, 5>> cells;
    std::array<std::string, 5> head = {"reason", "guest RIP", "function", "address",
                                       "hypervisor action"};
    std::array<size_t, 5> w{};
    for (size_t c = 0; c < 5; ++c) w[c] = head[c].size();
    for (const DemoExit& e : d.exits) {
        std::string kind = exit_address_kind(e.reason);
        std::array<std::string, 5> row = {
            e.reason, e.rip ? fmt::format("{:#x}", e.rip) : "-", fit(e.function, 24),
            kind == "-" ? "-" : fmt::format("{} {:#x}", kind, e.address), e.action};
        for (size_t c = 0; c < 5; ++c) w[c] = std::max(w[c], row[c].size());
        cells.push_back(row);
    }
    auto line = [&](const std::array<std::string, 5>& row, const std::string& instruction) {
        std::string l;
        for (size_t c = 0; c < 5; ++c) l += fmt::format("{:<{}}  ", row[c], w[c]);
        // The instruction last; one too long for 100 columns goes on a line of its own.
        if (l.size() + instruction.size() <= 100) return l + instruction + "\n";
        while (!l.empty() && l.back() == ' ') l.pop_back();
        return l + "\n" + fmt::format("{:>{}}{}\n", "", 6, fit(instruction, 94));
    };
    s += line(head, "instruction");
    auto trimmed = [](std::string t) {
        while (!t.empty() && t.back() == ' ') t.pop_back();
        return t;
    };
    for (size_t i = 0; i < d.exits.size(); ++i)
        s += line(cells[i], d.exits[i].instruction.empty() ? "?" : trimmed(d.exits[i].instruction));
    s += fmt::format("\nall {} exits listed, by reason / action:\n", d.backend);
    for (auto& [k, v] : d.by_action) s += fmt::format("  {:<44}{:>10}\n", k, v);
    return s;
}

ojson exits_demo_json(const ExitsDemo& d) {
    ojson list = ojson::array();
    for (const DemoExit& e : d.exits)
        list.push_back({{"reason", e.reason},
                        {"instructions", e.instructions},
                        {"rip", fmt::format("{:#x}", e.rip)},
                        {"instruction", e.instruction},
                        {"function", e.function},
                        {"address", fmt::format("{:#x}", e.address)},
                        {"address_kind", exit_address_kind(e.reason)},
                        {"action", e.action}});
    return {{"schema", "vmmu.demo.exits/1"},
            {"backend", d.backend},
            {"workload", d.workload},
            {"from", d.from.empty() ? "boot" : d.from},
            {"reasons", d.reasons},
            {"params", d.params},
            {"total_exits", d.total_exits},
            {"by_reason_and_action", d.by_action},
            {"exits", list},
            {"provenance", provenance_json(tool_provenance())}};
}

namespace {
ojson exit_list_json(const std::vector<DemoExit>& exits) {
    ojson list = ojson::array();
    for (const DemoExit& e : exits)
        list.push_back({{"order", e.order},
                        {"instructions", e.instructions},
                        {"reason", e.reason},
                        {"rip", e.rip ? fmt::format("{:#x}", e.rip) : "-"},
                        {"instruction", e.instruction},
                        {"function", e.function},
                        {"address", fmt::format("{:#x}", e.address)},
                        {"address_kind", exit_address_kind(e.reason)},
                        {"action", e.action}});
    return list;
}
std::map<std::string, uint64_t> by_reason(const std::vector<DemoExit>& exits) {
    std::map<std::string, uint64_t> m;
    for (const DemoExit& e : exits) ++m[e.reason];
    return m;
}
} // namespace

ojson exits_page_json(const ExitsPage& p) {
    return {{"schema", "vmmu.demo.exits_page/1"},
            {"workload", p.workload},
            {"params", p.params},
            {"from", p.from.empty() ? "boot" : p.from},
            {"reasons", p.reasons},
            {"limit", p.limit},
            {"window_is_whole_run", p.window_is_whole_run},
            {"shadow",
             {{"window_totals", by_reason(p.shadow)},
              {"run_totals", p.shadow_run_totals},
              {"exits", exit_list_json(p.shadow)}}},
            {"slat",
             {{"window_totals", by_reason(p.slat)},
              {"run_totals", p.slat_run_totals},
              {"exits", exit_list_json(p.slat)}}},
            {"glossary", demo_glossary()},
            {"provenance", provenance_json(tool_provenance())}};
}

} // namespace vmmu
