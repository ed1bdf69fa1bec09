#include "engine/experiment/scenario.h"

#include "engine/experiment/paths.h"
#include "engine/experiment/run_flags.h"
#include "engine/mmu/registry.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <stdexcept>

namespace vmmu {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// A bare name that is no file in the current directory names a shipped scenario.
fs::path find_scenario(const fs::path& file) {
    std::error_code ec;
    if (fs::exists(file, ec) || file.has_parent_path()) return file;
    fs::path dir = scenario_dir();
    for (fs::path p : {dir / file, dir / (file.string() + ".json")})
        if (fs::is_regular_file(p, ec)) return p;
    return file;
}
} // namespace

RunOptions load_scenario(const fs::path& given) {
    fs::path file = find_scenario(given);
    std::string origin = file.string();
    std::ifstream in(file, std::ios::binary);
    if (!in && given.has_parent_path())
        throw std::invalid_argument(fmt::format("scenario {}: cannot open", origin));
    if (!in)
        throw std::invalid_argument(
            fmt::format("scenario {}: cannot open, and {} has no {} or {}.json", origin,
                        scenario_dir().string(), origin, origin));
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    json j;
    try {
        j = json::parse(text);
    } catch (const json::exception& e) {
        throw std::invalid_argument(
            fmt::format("scenario {}: not valid JSON: {}", origin, json_error_text(text, e)));
    }
    RunOptions o = parse_run_args(scenario_args(j, origin));

    // What a run would reject anyway, checked now so the error names the key.
    auto catalogue = load_workloads(guest_dir());
    const Workload* w = nullptr;
    try {
        w = &find_workload(catalogue, o.workload);
    } catch (const std::invalid_argument& e) {
        fail_scenario(origin, "workload", e.what());
    }
    try {
        resolve_params(*w, o.params);
    } catch (const std::invalid_argument& e) {
        fail_scenario(origin, "params", e.what());
    }
    auto known = backend_names();
    for (size_t i = 0; i < o.backends.size(); ++i)
        if (std::find(known.begin(), known.end(), o.backends[i]) == known.end())
            fail_scenario(origin, fmt::format("backends[{}]", i),
                          fmt::format("unknown backend '{}' (valid: {})", o.backends[i],
                                      fmt::join(known, ", ")));
    fs::path base = file.parent_path();
    auto relative_to_file = [&](std::string& p) {
        if (!p.empty() && fs::path(p).is_relative()) p = (base / p).string();
    };
    relative_to_file(o.kernel);
    for (auto& p : o.programs) relative_to_file(p);
    if (fs::path(o.profile).has_parent_path() || fs::path(o.profile).extension() == ".json")
        relative_to_file(o.profile);
    try {
        load_profile(o.profile, profile_dir());
    } catch (const std::invalid_argument& e) {
        fail_scenario(origin, "profile", e.what());
    }
    return o;
}

void check_scenario_alone(const CLI::App& run) {
    for (const CLI::Option* opt : run.get_options()) {
        std::string n = opt->get_name();
        if (opt->count() == 0 || n == "--scenario" || n == "--json" || n == "--quiet") continue;
        throw std::invalid_argument(fmt::format(
            "--scenario: {} is also given on the command line; set it in the scenario file "
            "(\"flags\" or its own key) or run without --scenario",
            n));
    }
}

void check_vms_file_alone(const CLI::App& run) {
    for (const CLI::Option* opt : run.get_options()) {
        std::string n = opt->get_name();
        if (opt->count() == 0 || n == "--vms-file" || n == "--json" || n == "--quiet" ||
            n == "--quantum" || n == "--vms")
            continue;
        throw std::invalid_argument(fmt::format(
            "--vms-file: {} is also given on the command line, where it would apply to no VM; "
            "set it for every VM in the file (\"flags\", or \"dedup\" for deduplication)",
            n));
    }
}

} // namespace vmmu
