#include "engine/cli/compare.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <stdexcept>

namespace vmmu {
using json = nlohmann::json;

namespace {

// Wall-clock blocks are the documented non-deterministic part of every vmmu document.
constexpr const char *kSimKey = "sim";

// Leaves in document order; objects by key, arrays by index.
void flatten(const json &j, const std::string &path,
             std::vector<std::pair<std::string, const json *>> &out) {
    if (j.is_object()) {
        for (auto it = j.begin(); it != j.end(); ++it) {
            if (it.key() == kSimKey)
                continue;
            flatten(it.value(), path.empty() ? it.key() : path + "." + it.key(), out);
        }
    } else if (j.is_array()) {
        for (size_t i = 0; i < j.size(); ++i)
            flatten(j[i], fmt::format("{}[{}]", path, i), out);
        // An empty array is still a value: [] vs [x] must show.
        if (j.empty())
            out.emplace_back(path, &j);
    } else {
        out.emplace_back(path, &j);
    }
}

std::optional<double> number(const json *j) {
    if (j && j->is_number())
        return j->get<double>();
    return std::nullopt;
}

} // namespace

uint64_t CompareResult::beyond() const {
    return std::count_if(changes.begin(), changes.end(),
                         [](const ValueChange &c) { return c.beyond; });
}

CompareResult compare_json(const json &base, const json &now, double tolerance_pct) {
    std::vector<std::pair<std::string, const json *>> a, b;
    flatten(base, "", a);
    flatten(now, "", b);
    std::map<std::string, const json *> in_b(b.begin(), b.end());
    std::map<std::string, const json *> in_a(a.begin(), a.end());
    // Base order first, then leaves only the new document has.
    std::vector<std::string> order;
    for (auto &[p, _] : a)
        order.push_back(p);
    for (auto &[p, _] : b)
        if (!in_a.count(p))
            order.push_back(p);

    CompareResult r;
    for (auto &path : order) {
        ++r.compared;
        auto ia = in_a.find(path);
        auto ib = in_b.find(path);
        const json *x = ia == in_a.end() ? nullptr : ia->second;
        const json *y = ib == in_b.end() ? nullptr : ib->second;
        if (x && y && *x == *y)
            continue;
        ValueChange c;
        c.path = path;
        c.old_value = x ? x->dump() : "(absent)";
        c.new_value = y ? y->dump() : "(absent)";
        auto nx = number(x), ny = number(y);
        if (nx && ny) {
            if (*nx == *ny)
                continue; // 3 vs 3.0: same value
            c.delta_pct = *nx == 0 ? std::numeric_limits<double>::infinity() * (*ny > 0 ? 1 : -1)
                                   : (*ny - *nx) / std::fabs(*nx) * 100.0;
            c.beyond = std::fabs(*c.delta_pct) > tolerance_pct;
        } else {
            c.beyond = true;
        }
        r.changes.push_back(std::move(c));
    }
    return r;
}

json read_vmmu_json(const std::filesystem::path &path) {
    std::ifstream in(path);
    if (!in)
        throw std::invalid_argument(
            fmt::format("cannot read '{}': no such file (give a vmmu JSON "
                        "document written by 'vmmu run --json' or 'vmmu sweep')",
                        path.string()));
    std::stringstream ss;
    ss << in.rdbuf();
    json j = json::parse(ss.str(), nullptr, false);
    if (j.is_discarded())
        throw std::invalid_argument(
            fmt::format("'{}' is not valid JSON (truncated or hand-edited?); "
                        "regenerate it with vmmu",
                        path.string()));
    if (!j.is_object() || !j.contains("schema") || !j["schema"].is_string() ||
        j["schema"].get<std::string>().rfind("vmmu.", 0) != 0)
        throw std::invalid_argument(
            fmt::format("'{}' has no vmmu \"schema\" field: it is not a document "
                        "written by 'vmmu run --json' or 'vmmu sweep'",
                        path.string()));
    return j;
}

std::string change_table(const CompareResult &r, double tolerance_pct) {
    std::string s;
    if (!r.changes.empty()) {
        size_t w = 4;
        for (auto &c : r.changes)
            w = std::max(w, c.path.size());
        w = std::min<size_t>(w, 72);
        s += fmt::format("{:<{}}  {:>18}  {:>18}  {:>10}\n", "path", w, "old", "new", "delta %");
        for (auto &c : r.changes) {
            std::string d = !c.delta_pct               ? "-"
                            : std::isinf(*c.delta_pct) ? (*c.delta_pct > 0 ? "+inf" : "-inf")
                                                       : fmt::format("{:+.4f}", *c.delta_pct);
            s += fmt::format("{:<{}}  {:>18}  {:>18}  {:>10}{}\n", c.path, w, c.old_value,
                             c.new_value, d, c.beyond ? "" : "  (within tolerance)");
        }
    }
    s += fmt::format("{} values compared, {} changed, {} beyond the tolerance of {}%\n", r.compared,
                     r.changes.size(), r.beyond(), tolerance_pct);
    return s;
}

} // namespace vmmu
