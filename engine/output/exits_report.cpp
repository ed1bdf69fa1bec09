#include "engine/output/exits_report.h"

#include "engine/output/provenance_json.h"

#include <fmt/format.h>

namespace vmmu {
using ojson = nlohmann::ordered_json;

std::string exits_demo_text(const ExitsDemo& d) {
    std::string s = fmt::format("VM exits under shadow paging, workload {} (first {} of {}):\n",
                                d.workload, d.exits.size(), d.total_exits);
    s += fmt::format("{:<14}{:<12}{:<30} {:<28}{:<16}{}\n", "reason", "guest RIP", "instruction",
                     "function", "address", "hypervisor action");
    for (const DemoExit& e : d.exits)
        s += fmt::format("{:<14}{:<#12x}{:<30} {:<28}{:<#16x}{}\n", e.reason, e.rip,
                         e.instruction.empty() ? "?" : e.instruction, e.function, e.address,
                         e.action);
    s += "\nall exits by reason / action:\n";
    for (auto& [k, v] : d.by_action) s += fmt::format("  {:<44}{:>10}\n", k, v);
    return s;
}

ojson exits_demo_json(const ExitsDemo& d) {
    ojson list = ojson::array();
    for (const DemoExit& e : d.exits)
        list.push_back({{"reason", e.reason},
                        {"rip", fmt::format("{:#x}", e.rip)},
                        {"instruction", e.instruction},
                        {"function", e.function},
                        {"address", fmt::format("{:#x}", e.address)},
                        {"action", e.action}});
    return {{"schema", "vmmu.demo.exits/1"},
            {"workload", d.workload},
            {"params", d.params},
            {"total_exits", d.total_exits},
            {"by_reason_and_action", d.by_action},
            {"exits", list},
            {"provenance", provenance_json(tool_provenance())}};
}

} // namespace vmmu
