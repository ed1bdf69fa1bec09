#include "engine/output/compare_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace vmmu {

std::string change_table(const CompareResult& r, double tolerance_pct) {
    std::string s;
    if (!r.changes.empty()) {
        size_t w = 4;
        for (auto& c : r.changes) w = std::max(w, c.path.size());
        w = std::min<size_t>(w, 72);
        s += fmt::format("{:<{}}  {:>18}  {:>18}  {:>12}\n", "path", w, "old", "new", "delta %");
        for (auto& c : r.changes) {
            // Six significant digits: a one-count change in a billion still shows (+1e-07).
            std::string d = !c.delta_pct               ? "-"
                            : std::isinf(*c.delta_pct) ? (*c.delta_pct > 0 ? "+inf" : "-inf")
                                                       : fmt::format("{:+.6g}", *c.delta_pct);
            s += fmt::format("{:<{}}  {:>18}  {:>18}  {:>12}{}\n", c.path, w, c.old_value,
                             c.new_value, d, c.beyond ? "" : "  (within tolerance)");
        }
    }
    s += fmt::format("{} values compared, {} changed, {} beyond the tolerance of {}%\n", r.compared,
                     r.changes.size(), r.beyond(), tolerance_pct);
    return s;
}

} // namespace vmmu
