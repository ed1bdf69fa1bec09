#include "engine/experiment/workloads.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <stdexcept>

namespace vmmu {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {
Workload parse_workload(const std::string& name, const json& j) {
    Workload w;
    w.name = j.value("name", name);
    w.description = j.value("description", "");
    const json& params = j.contains("params") ? j.at("params") : json::array();
    auto add = [&](const std::string& pname, const json& p) {
        WorkloadParam wp;
        wp.name = p.value("name", pname);
        wp.default_value = p.at("default").get<uint64_t>();
        wp.description = p.value("description", "");
        wp.source = p.value("source", "");
        wp.min = p.value("min", uint64_t{0});
        wp.max = p.value("max", UINT64_MAX);
        wp.power_of_two = p.value("power_of_two", false);
        w.params.push_back(std::move(wp));
    };
    if (params.is_array())
        for (auto& p : params) add("", p);
    else
        for (auto& [k, p] : params.items()) add(k, p);
    return w;
}
} // namespace

std::vector<Workload> load_workloads(const fs::path& guest_dir) {
    fs::path file = guest_dir / "manifest.json";
    std::ifstream in(file);
    if (!in)
        throw std::invalid_argument(fmt::format(
            "no workload manifest at {}: build the project first (cmake --build build), or "
            "reinstall (cmake --install build --prefix P)",
            file.string()));
    std::vector<Workload> out;
    try {
        json j = json::parse(in);
        const json& list = j.contains("workloads") ? j.at("workloads") : j;
        if (list.is_array())
            for (auto& w : list) out.push_back(parse_workload("", w));
        else
            for (auto& [k, w] : list.items()) out.push_back(parse_workload(k, w));
    } catch (const json::exception& e) {
        throw std::invalid_argument(fmt::format("{}: {}", file.string(), e.what()));
    }
    return out;
}

const Workload& find_workload(const std::vector<Workload>& all, const std::string& name) {
    for (auto& w : all)
        if (w.name == name) return w;
    std::vector<std::string> names;
    for (auto& w : all) names.push_back(w.name);
    throw std::invalid_argument(
        fmt::format("unknown workload '{}' (valid: {})", name, fmt::join(names, ", ")));
}

std::map<std::string, uint64_t> resolve_params(const Workload& w,
                                               const std::vector<std::string>& overrides) {
    std::map<std::string, uint64_t> values;
    for (auto& p : w.params) values[p.name] = p.default_value;
    std::map<std::string, std::string> given;
    for (auto& o : overrides) {
        auto eq = o.find('=');
        std::string key = o.substr(0, eq);
        if (eq == std::string::npos || !values.count(key)) {
            std::vector<std::string> names;
            for (auto& p : w.params) names.push_back(p.name);
            throw std::invalid_argument(
                fmt::format("--param '{}': {} takes {} (as KEY=VALUE)", o, w.name,
                            names.empty() ? std::string("no parameters")
                                          : fmt::format("{}", fmt::join(names, ", "))));
        }
        std::string v = o.substr(eq + 1);
        const WorkloadParam& p =
            *std::find_if(w.params.begin(), w.params.end(),
                          [&](const WorkloadParam& q) { return q.name == key; });
        size_t used = 0;
        uint64_t n = 0;
        bool too_large = false;
        try {
            n = std::stoull(v, &used, 0);
        } catch (const std::out_of_range&) {
            too_large = v[0] != '-';
            used = 0;
        } catch (const std::exception&) {
            used = 0;
        }
        if (too_large)
            throw std::invalid_argument(
                fmt::format("--param {}: '{}' is too large: {} takes {} at most {}", key, v, w.name,
                            key, p.max));
        if (v.empty() || used != v.size() || v[0] == '-')
            throw std::invalid_argument(
                fmt::format("--param {}: '{}' is not a non-negative whole number", key, v));
        if (auto [it, fresh] = given.emplace(key, o); !fresh)
            throw std::invalid_argument(fmt::format(
                "--param {} is given twice ('{}' and '{}'): keep one", key, it->second, o));
        if (n < p.min || n > p.max)
            throw std::invalid_argument(
                p.max == UINT64_MAX
                    ? fmt::format("--param {}={}: {} takes {} >= {}", key, n, w.name, key, p.min)
                    : fmt::format("--param {}={}: {} takes {} from {} to {}", key, n, w.name, key,
                                  p.min, p.max));
        if (p.power_of_two && (n & (n - 1)) != 0)
            throw std::invalid_argument(
                fmt::format("--param {}={}: {} takes a power of two for {} (e.g. {})", key, n,
                            w.name, key, n ? uint64_t{1} << (63 - __builtin_clzll(n)) : 1));
        values[key] = n;
    }
    return values;
}

std::string workload_cmdline(const std::string& name, const std::map<std::string, uint64_t>& params,
                             const std::vector<std::string>& order) {
    std::string s = name;
    for (auto& k : order) s += fmt::format(" {}={}", k, params.at(k));
    return s;
}

} // namespace vmmu
