#include "engine/experiment/compare.h"

#include "engine/experiment/paths.h"
#include "engine/mmu/counters.h"

#include <fmt/format.h>

#include <algorithm>
#include <fnmatch.h>
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
constexpr const char* kSimKey = "sim";
// What produced the document is compared apart (compare_provenance): a new vmmu version is not
// a moved value.
constexpr const char* kProvenanceKey = "provenance";

// Leaves in document order; objects by key, arrays by index.
void flatten(const json& j, const std::string& path,
             std::vector<std::pair<std::string, const json*>>& out) {
    if (j.is_object()) {
        for (auto it = j.begin(); it != j.end(); ++it) {
            if (it.key() == kSimKey || it.key() == kProvenanceKey) continue;
            flatten(it.value(), path.empty() ? it.key() : path + "." + it.key(), out);
        }
    } else if (j.is_array()) {
        for (size_t i = 0; i < j.size(); ++i) flatten(j[i], fmt::format("{}[{}]", path, i), out);
        // An empty array is still a value: [] vs [x] must show.
        if (j.empty()) out.emplace_back(path, &j);
    } else {
        out.emplace_back(path, &j);
    }
}

std::optional<double> number(const json* j) {
    if (j && j->is_number()) return j->get<double>();
    return std::nullopt;
}

// An integer leaf as a signed 128-bit value (counters run past 2^53, where a double would round
// two different values to one).
std::optional<__int128> integer(const json* j) {
    if (j && j->is_number_unsigned()) return static_cast<__int128>(j->get<uint64_t>());
    if (j && j->is_number_integer()) return static_cast<__int128>(j->get<int64_t>());
    return std::nullopt;
}

} // namespace

uint64_t CompareResult::beyond() const {
    return std::count_if(changes.begin(), changes.end(),
                         [](const ValueChange& c) { return c.beyond; });
}

uint64_t ComparisonReport::compared() const {
    uint64_t n = 0;
    for (auto& f : files) n += f.result.compared;
    return n;
}

uint64_t ComparisonReport::beyond() const {
    uint64_t n = 0;
    for (auto& f : files) n += f.problem.empty() ? f.result.beyond() : 1;
    return n;
}

bool FileComparison::inputs_differ() const {
    return std::any_of(provenance.begin(), provenance.end(),
                       [](const ProvenanceDifference& d) { return !d.tool_only; });
}

bool ComparisonReport::provenance_failed() const {
    return strict_provenance &&
           std::any_of(files.begin(), files.end(),
                       [](const FileComparison& f) { return f.inputs_differ(); });
}

uint64_t ComparisonReport::failed_files() const {
    return std::count_if(files.begin(), files.end(),
                         [](const FileComparison& f) { return f.failed(); });
}

CompareResult compare_json(const json& base, const json& now, double tolerance_pct) {
    ComparePolicy p;
    p.tolerance_pct = tolerance_pct;
    return compare_json(base, now, p);
}

double ComparePolicy::tolerance_for(const std::string& path) const {
    double t = tolerance_pct;
    for (auto& [pattern, pct] : tolerances)
        if (fnmatch(pattern.c_str(), path.c_str(), 0) == 0) t = pct;
    return t;
}

bool ComparePolicy::ignored(const std::string& path) const {
    return std::any_of(ignore.begin(), ignore.end(), [&](const std::string& pattern) {
        return fnmatch(pattern.c_str(), path.c_str(), 0) == 0;
    });
}

int ComparePolicy::worse_direction(const std::string& path) {
    auto leaf = path.substr(path.rfind('.') + 1);
    auto has = [&](const char* part) { return path.find(part) != std::string::npos; };
    if (!has("backends.") && !has("comparison.")) return 0;
    if (has("comparison.")) return +1; // cycle ratios against native or slat
    if (leaf == "pwc_hits" || leaf == "ntlb_hits") return -1;
    if (has(".cycles.") || has(".exits.")) return +1;
    if (leaf.find("misses") != std::string::npos || leaf == "flushes") return +1;
    // Caches: references and data served further out, the cycles a walk costs and the data
    // misses walks caused grow when things get worse; L1 hits (and L2 hits of walks) alone
    // say nothing without the total.
    if (has(".caches.")) {
        if (has(".walk_cycles_per_walk.") || has(".data_misses_from_walks.")) return +1;
        if (leaf == "llc" || leaf == "memory") return +1;
        if (has(".caches.data.") && leaf == "l2") return +1;
        return 0;
    }
    // Hyper-V's counters count work the hypervisor did, except the two that are levels.
    if (has(".hyperv_counters.")) return is_hyperv_gauge(leaf) ? 0 : +1;
    if (has(".walks.") && (leaf == "count" || leaf.rfind("refs", 0) == 0 || leaf == "guest" ||
                           leaf == "nested" || leaf == "shadow" || leaf == "max_refs_per_walk"))
        return +1;
    return 0;
}

ComparePolicy load_tolerance_file(const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in)
        throw std::invalid_argument(fmt::format(
            "--tolerance-file '{}': no such file (a vmmu.tolerance/1 JSON file)", path.string()));
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    auto bad = [&](const std::string& what) {
        throw std::invalid_argument(
            fmt::format("--tolerance-file '{}': {} (expected {{\"schema\": \"vmmu.tolerance/1\", "
                        "\"tolerance\": PCT, \"floor\": N, \"regressions_only\": true|false, "
                        "\"counters\": {{PATTERN: PCT}}, \"ignore\": [PATTERN]}})",
                        path.string(), what));
    };
    json j;
    try {
        j = json::parse(text);
    } catch (const json::exception& e) {
        bad("not valid JSON: " + json_error_text(text, e));
    }
    if (!j.is_object()) bad("the top level must be an object");
    ComparePolicy p;
    auto pct = [&](const json& v, const std::string& key) {
        if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < 0)
            bad(fmt::format("{}: {} is not a finite number >= 0", key, v.dump()));
        return v.get<double>();
    };
    for (auto& [k, v] : j.items()) {
        if (k == "schema") {
            if (v != "vmmu.tolerance/1") bad("\"schema\" must be \"vmmu.tolerance/1\"");
        } else if (k == "tolerance") {
            p.tolerance_pct = pct(v, k);
        } else if (k == "floor") {
            p.floor = pct(v, k);
        } else if (k == "regressions_only") {
            if (!v.is_boolean()) bad("regressions_only must be true or false");
            p.regressions_only = v.get<bool>();
        } else if (k == "counters") {
            if (!v.is_object()) bad("counters must be an object {PATTERN: PCT}");
            for (auto& [pattern, t] : v.items())
                p.tolerances.emplace_back(pattern, pct(t, "counters." + pattern));
        } else if (k == "ignore") {
            if (!v.is_array()) bad("ignore must be a list of patterns");
            for (auto& pattern : v) {
                if (!pattern.is_string())
                    bad(fmt::format("ignore: {} is not a string", pattern.dump()));
                p.ignore.push_back(pattern.get<std::string>());
            }
        } else {
            bad(fmt::format("unknown key \"{}\"", k));
        }
    }
    return p;
}

CompareResult compare_json(const json& base, const json& now, const ComparePolicy& policy) {
    std::vector<std::pair<std::string, const json*>> a, b;
    flatten(base, "", a);
    flatten(now, "", b);
    std::map<std::string, const json*> in_b(b.begin(), b.end());
    std::map<std::string, const json*> in_a(a.begin(), a.end());
    // Base order first, then leaves only the new document has.
    std::vector<std::string> order;
    for (auto& [p, _] : a) order.push_back(p);
    for (auto& [p, _] : b)
        if (!in_a.count(p)) order.push_back(p);

    CompareResult r;
    for (auto& path : order) {
        if (policy.ignored(path)) {
            ++r.ignored;
            continue;
        }
        ++r.compared;
        r.paths.push_back(path);
        auto ia = in_a.find(path);
        auto ib = in_b.find(path);
        const json* x = ia == in_a.end() ? nullptr : ia->second;
        const json* y = ib == in_b.end() ? nullptr : ib->second;
        auto ix = integer(x), iy = integer(y);
        // Integers first: nlohmann's == would equate -1 and 2^64 - 1.
        if (ix && iy ? *ix == *iy : x && y && *x == *y) continue;
        ValueChange c;
        c.path = path;
        c.old_value = x ? x->dump() : "(absent)";
        c.new_value = y ? y->dump() : "(absent)";
        auto nx = number(x), ny = number(y);
        if (nx && ny) {
            // Two integers compare exactly; otherwise as doubles (3 vs 3.0: the same value).
            if (ix && iy ? *ix == *iy : *nx == *ny) continue;
            long double diff = ix && iy ? static_cast<long double>(*iy - *ix)
                                        : static_cast<long double>(*ny) - *nx;
            long double base = std::fabs(static_cast<long double>(*nx));
            c.delta_pct = *nx == 0 ? std::numeric_limits<double>::infinity() * (diff > 0 ? 1 : -1)
                                   : static_cast<double>(diff / base * 100);
            // |diff| > tolerance % of |old|, without the rounding of a division; the relative
            // slack absorbs the tolerance's own binary rounding (0.3 is stored as 0.29999...).
            double tolerance_pct = policy.tolerance_for(path);
            c.beyond = *nx == 0 || std::fabs(diff) * 100 > tolerance_pct * base * (1 + 1e-12);
            // An absolute floor: 0 -> 1 is a move of 1, not of +inf %.
            if (std::fabs(diff) <= policy.floor) c.beyond = false;
            int worse = ComparePolicy::worse_direction(path);
            if (c.beyond && policy.regressions_only && worse != 0 && (diff > 0) != (worse > 0)) {
                c.beyond = false;
                c.improvement = true;
            }
        } else {
            c.beyond = true;
        }
        r.changes.push_back(std::move(c));
    }
    return r;
}

json read_vmmu_json(const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in)
        throw std::invalid_argument(
            fmt::format("cannot read '{}': no such file (give a vmmu JSON "
                        "document written by 'vmmu run --json' or 'vmmu sweep')",
                        path.string()));
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    json j;
    try {
        j = json::parse(text);
    } catch (const json::exception& e) {
        throw std::invalid_argument(
            fmt::format("'{}' is not valid JSON ({}; truncated or hand-edited?): "
                        "regenerate it with vmmu",
                        path.string(), json_error_text(text, e)));
    }
    if (!j.is_object() || !j.contains("schema") || !j["schema"].is_string() ||
        j["schema"].get<std::string>().rfind("vmmu.", 0) != 0)
        throw std::invalid_argument(
            fmt::format("'{}' has no vmmu \"schema\" field: it is not a document "
                        "written by 'vmmu run --json' or 'vmmu sweep'",
                        path.string()));
    return j;
}

void require_same_schema(const json& base, const json& now, const std::string& base_name,
                         const std::string& new_name) {
    if (base["schema"] != now["schema"])
        throw std::invalid_argument(fmt::format(
            "'{}' is a {} document and '{}' a {} one: compare two documents of one kind (two "
            "runs, two sweeps, ...)",
            base_name, base["schema"].get<std::string>(), new_name,
            now["schema"].get<std::string>()));
}

void check_tolerance(double pct) {
    if (!std::isfinite(pct) || pct < 0)
        throw std::invalid_argument(
            fmt::format("--tolerance {}: give a finite percentage >= 0 (e.g. 0.5)", pct));
}

} // namespace vmmu
