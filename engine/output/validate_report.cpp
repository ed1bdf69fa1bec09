#include "engine/output/validate_report.h"

#include "engine/output/provenance_json.h"

#include <fmt/format.h>

namespace vmmu {
using ojson = nlohmann::ordered_json;

namespace {

size_t agreeing(const std::vector<ValidationCheck>& checks) {
    size_t n = 0;
    for (auto& c : checks) n += c.agrees;
    return n;
}

} // namespace

std::string validate_text(const std::vector<ValidationCheck>& checks, double wall_seconds) {
    std::string out;
    for (auto& c : checks)
        out += fmt::format(
            "[{}] {}\n  claim:    {}\n  source:   {}\n  measured: {}\n  window:   {}\n  "
            "criterion: {}\n  personality: --hypervisor {}\n\n",
            c.agrees ? "agrees" : "DISAGREES", c.id, c.claim, c.source, c.measured, c.window,
            c.criterion, c.personality);
    out += fmt::format("{} of {} checks agree with the published findings ({:.0f} s)\n",
                       agreeing(checks), checks.size(), wall_seconds);
    return out;
}

ojson validate_json(const std::vector<ValidationCheck>& checks, double wall_seconds) {
    ojson list = ojson::array();
    for (auto& c : checks)
        list.push_back({{"id", c.id},
                        {"claim", c.claim},
                        {"source", c.source},
                        {"criterion", c.criterion},
                        {"measured", c.measured},
                        {"window", c.window},
                        {"personality", c.personality},
                        {"figures", c.figures},
                        {"verdict", c.agrees ? "agrees" : "disagrees"}});
    return {{"schema", "vmmu.validate/1"},
            {"checks", list},
            {"agree", agreeing(checks)},
            {"total", checks.size()},
            {"provenance", provenance_json(tool_provenance())},
            {"sim", {{"wall_seconds", wall_seconds}}}};
}

} // namespace vmmu
