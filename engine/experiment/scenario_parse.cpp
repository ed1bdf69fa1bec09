// Parsing a scenario's JSON into `vmmu run` arguments: structure, types and flag values only, no
// file look-ups, so the fuzz target (tests/fuzz/) can drive it on its own.
#include "engine/experiment/run_flags.h"
#include "engine/experiment/scenario.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <stdexcept>

namespace vmmu {
using nlohmann::json;

void fail_scenario(const std::string& origin, const std::string& path, const std::string& problem) {
    throw std::invalid_argument(fmt::format("scenario {}: {}: {}", origin, path, problem));
}

namespace {

constexpr const char* kScenarioSchema = "vmmu.scenario/1";
// Keys of their own at the top level; every other run flag goes under "flags".
const std::vector<std::string> kOwnKeys = {"workload", "param", "profile", "backends"};
// Run flags a scenario gives through its "dedup" key instead.
const std::vector<std::string> kDedupFlags = {"dedup", "dedup-period", "dedup-pages"};
const char* const kDedupForm = "true, false or {\"period\": N, \"pages\": N}";

// The long names of `vmmu run`'s flags that may appear under "flags", without dashes.
std::vector<std::string> flag_names() {
    CLI::App app;
    RunFlags flags;
    flags.add(&app);
    std::vector<std::string> names;
    for (const CLI::Option* opt : app.get_options()) {
        std::string n = opt->get_name();
        if (n.rfind("--", 0) != 0) continue;
        n = n.substr(2);
        if (n == "help" || std::find(kOwnKeys.begin(), kOwnKeys.end(), n) != kOwnKeys.end() ||
            std::find(kDedupFlags.begin(), kDedupFlags.end(), n) != kDedupFlags.end())
            continue;
        names.push_back(n);
    }
    std::sort(names.begin(), names.end());
    return names;
}

// One flag value as its command-line word: strings as they are, whole numbers in decimal,
// true/false as on/off.
std::string flag_word(const std::string& origin, const std::string& path, const json& v) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_boolean()) return v.get<bool>() ? "on" : "off";
    if (v.is_number_unsigned()) return std::to_string(v.get<uint64_t>());
    if (v.is_number_integer()) fail_scenario(origin, path, fmt::format("{} is negative", v.dump()));
    fail_scenario(origin, path,
                  fmt::format("{} must be a string, a whole number or true/false", v.dump()));
}

void add_flags(const std::string& origin, const json& flags, std::vector<std::string>& args) {
    if (!flags.is_object()) fail_scenario(origin, "flags", "must be an object of run flags");
    static const std::vector<std::string> known = flag_names();
    for (auto& [k, v] : flags.items()) {
        std::string path = "flags." + k;
        if (std::find(kDedupFlags.begin(), kDedupFlags.end(), k) != kDedupFlags.end())
            fail_scenario(
                origin, path,
                fmt::format("give deduplication as the top-level key \"dedup\": {}", kDedupForm));
        if (std::find(known.begin(), known.end(), k) == known.end())
            fail_scenario(origin, path,
                          std::find(kOwnKeys.begin(), kOwnKeys.end(), k) != kOwnKeys.end()
                              ? fmt::format("give it as the top-level key \"{}\"",
                                            k == "param" ? "params" : k)
                              : fmt::format("unknown flag (valid: {})", fmt::join(known, ", ")));
        std::vector<std::string> one;
        if (v.is_array()) {
            if (v.empty())
                fail_scenario(origin, path, "an empty list: give a value or leave the key out");
            for (size_t i = 0; i < v.size(); ++i) {
                one.push_back("--" + k);
                one.push_back(flag_word(origin, fmt::format("{}[{}]", path, i), v[i]));
            }
        } else {
            one = {"--" + k, flag_word(origin, path, v)};
        }
        // Parsed alone first, so a bad value is blamed on its own key.
        try {
            parse_run_args(one);
        } catch (const std::invalid_argument& e) {
            fail_scenario(origin, path, e.what());
        }
        args.insert(args.end(), one.begin(), one.end());
    }
}

// "dedup": true | false | {"period": N, "pages": N} (either key optional; the object turns it on).
void add_dedup(const std::string& origin, const json& d, std::vector<std::string>& args) {
    if (d.is_boolean()) {
        if (d.get<bool>()) args.push_back("--dedup");
        return;
    }
    if (!d.is_object())
        fail_scenario(origin, "dedup", fmt::format("{}: give {}", d.dump(), kDedupForm));
    args.push_back("--dedup");
    for (auto& [k, v] : d.items()) {
        std::string path = "dedup." + k;
        if (k != "period" && k != "pages")
            fail_scenario(origin, path, "unknown key (valid: period, pages)");
        if (!v.is_number_unsigned() || v.get<uint64_t>() == 0)
            fail_scenario(origin, path,
                          fmt::format("{} is not a whole number >= 1 ({})", v.dump(),
                                      k == "period" ? "guest instructions between scanner passes"
                                                    : "guest frames visited per pass"));
        args.push_back(k == "period" ? "--dedup-period" : "--dedup-pages");
        args.push_back(std::to_string(v.get<uint64_t>()));
    }
}

} // namespace

std::vector<std::string> scenario_args(const json& j, const std::string& origin) {
    if (!j.is_object()) fail_scenario(origin, "(top level)", "must be a JSON object");
    static const std::vector<std::string> allowed = {"schema",   "workload", "params", "profile",
                                                     "backends", "flags",    "dedup"};
    for (auto& [k, v] : j.items())
        if (std::find(allowed.begin(), allowed.end(), k) == allowed.end())
            fail_scenario(origin, k,
                          fmt::format("unknown key (valid: {})", fmt::join(allowed, ", ")));
    if (j.contains("schema") && !(j["schema"].is_string() && j["schema"] == kScenarioSchema))
        fail_scenario(origin, "schema",
                      fmt::format("{} is not \"{}\"", j["schema"].dump(), kScenarioSchema));
    if (!j.contains("workload"))
        fail_scenario(origin, "workload", "missing (a name from 'vmmu list')");
    const json& w = j["workload"];
    if (!w.is_string() || w.get<std::string>().empty())
        fail_scenario(origin, "workload", "must be a non-empty string");
    std::vector<std::string> args = {"--workload", w.get<std::string>()};
    if (j.contains("params")) {
        const json& p = j["params"];
        if (!p.is_object())
            fail_scenario(origin, "params", "must be an object of NAME: whole number");
        for (auto& [k, v] : p.items()) {
            if (!v.is_number_unsigned())
                fail_scenario(origin, "params." + k,
                              fmt::format("{} is not a whole number >= 0", v.dump()));
            args.push_back("--param");
            args.push_back(fmt::format("{}={}", k, v.get<uint64_t>()));
        }
    }
    if (j.contains("profile")) {
        const json& p = j["profile"];
        if (!p.is_string() || p.get<std::string>().empty())
            fail_scenario(origin, "profile", "must be a profile name or a path to a .json file");
        args.push_back("--profile");
        args.push_back(p.get<std::string>());
    }
    if (j.contains("backends")) {
        const json& b = j["backends"];
        if (!b.is_array()) fail_scenario(origin, "backends", "must be a list of backend names");
        std::vector<std::string> names;
        for (size_t i = 0; i < b.size(); ++i) {
            if (!b[i].is_string() || b[i].get<std::string>().empty() ||
                b[i].get<std::string>().find(',') != std::string::npos)
                fail_scenario(origin, fmt::format("backends[{}]", i), "must be one backend name");
            names.push_back(b[i].get<std::string>());
        }
        args.push_back("--backends");
        args.push_back(names.empty() ? "none" : fmt::format("{}", fmt::join(names, ",")));
    }
    if (j.contains("flags")) add_flags(origin, j["flags"], args);
    if (j.contains("dedup")) {
        add_dedup(origin, j["dedup"], args);
        // What deduplication needs of the other settings (4 KiB EPT pages), named here.
        try {
            parse_run_args(args);
        } catch (const std::invalid_argument& e) {
            fail_scenario(origin, "dedup", e.what());
        }
    }
    return args;
}

} // namespace vmmu
