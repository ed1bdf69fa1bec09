#include "engine/output/study_report.h"

#include "engine/experiment/study.h"

#include <fmt/format.h>

#include <string>
#include <vector>

namespace vmmu {
using ojson = nlohmann::ordered_json;

std::string study_table(const ojson& s) {
    std::string out;
    const ojson& caps = s["capacity"];
    std::vector<std::string> names;
    for (auto& [k, v] : caps.items()) names.push_back(k);
    out += fmt::format("scaling study ({}): cycles per session-action (M) by K\n",
                       s["status"].get<std::string>());
    out += fmt::format("{:>6}", "K");
    for (auto& n : names) out += fmt::format("{:>14}", n);
    out += fmt::format("{:>14}\n", "slat/shadow");
    for (auto& p : s["points"]) {
        out += fmt::format("{:>6}", p["sessions"].get<uint64_t>());
        if (p["status"] != "ok") {
            out += fmt::format("  failed: {}\n", p.value("failure", std::string("?")));
            continue;
        }
        for (auto& n : names)
            out +=
                fmt::format("{:>14.3f}", p["backends"][n]["cycles_per_action"].get<double>() / 1e6);
        if (p["backends"].contains("slat") && p["backends"].contains("shadow"))
            out += fmt::format("{:>13.2f}x",
                               p["backends"]["shadow"]["cycles_per_action"].get<double>() /
                                   p["backends"]["slat"]["cycles_per_action"].get<double>());
        out += "\n";
    }
    const ojson& m = s["capacity_model"];
    out += fmt::format(
        "capacity: {} cores x GHz (per backend) x {} utilisation, {} actions/s per user\n",
        m["cores"]["value"].get<double>(), m["utilisation"]["value"].get<double>(),
        m["actions_per_sec"]["value"].get<double>());
    for (auto& n : names) {
        const ojson& c = caps[n];
        if (!c["sessions"].is_number()) {
            out += fmt::format("  {:<8} no usable run\n", n);
            continue;
        }
        out += fmt::format("  {:<8} {:<14} {:.2f} GHz  sustains {} sessions (crossing {:.1f}{})\n",
                           n, c["profile"].get<std::string>(), c["ghz"].get<double>(),
                           c["sessions"].get<uint64_t>(), c["crossing"].get<double>(),
                           c["extrapolated"].get<bool>() ? ", extrapolated past the last K" : "");
    }
    const ojson& r = s["ratio"];
    if (r["slat/shadow"].is_number())
        out += fmt::format("slat/shadow sessions: {:.2f}x  (published {}-{}x: {})\n",
                           r["slat/shadow"].get<double>(), kPublishedLow, kPublishedHigh,
                           r["verdict"].get<std::string>());
    else
        out += "slat/shadow sessions: not measured (needs both backends)\n";
    return out;
}

} // namespace vmmu
