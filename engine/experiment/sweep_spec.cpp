#include "engine/experiment/sweep_spec.h"

#include "engine/experiment/paths.h"
#include "engine/experiment/run_flags.h"
#include "engine/experiment/workloads.h"
#include "engine/mmu/profile.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

namespace vmmu {
using ojson = nlohmann::ordered_json;

namespace {

constexpr const char* kSweepSpecSchema = "vmmu.sweep-spec/1";

[[noreturn]] void bad(const std::string& where, const std::string& what) {
    throw std::invalid_argument(fmt::format("sweep spec {}: {}", where, what));
}

void only_keys(const ojson& j, std::initializer_list<const char*> keys, const std::string& where) {
    for (auto it = j.begin(); it != j.end(); ++it) {
        bool known = false;
        for (auto* k : keys) known |= it.key() == k;
        if (!known)
            bad(where,
                fmt::format("unknown key \"{}\" (valid: {})", it.key(), fmt::join(keys, ", ")));
    }
}

// A parameter's values: one number or a list of numbers.
std::vector<uint64_t> values_of(const ojson& v, const std::string& where) {
    std::vector<uint64_t> out;
    auto one = [&](const ojson& x) {
        if (!x.is_number_unsigned())
            bad(where, fmt::format("{} is not a non-negative integer", x.dump()));
        out.push_back(x.get<uint64_t>());
    };
    if (v.is_array()) {
        if (v.empty()) bad(where, "an empty list of values would make an empty grid");
        for (auto& x : v) one(x);
    } else {
        one(v);
    }
    return out;
}

// "--ept-pages 2m --pwc=off" -> "ept-pages=2m.pwc=off": readable and safe in a file name.
std::string flags_label(const std::vector<std::string>& flags) {
    std::string s;
    for (auto& f : flags) {
        if (f.rfind("--", 0) == 0)
            s += (s.empty() ? "" : ".") + f.substr(2);
        else
            s += "=" + f;
    }
    for (char& c : s)
        if (c == '/' || c == ' ' || c == ',') c = '_';
    return s;
}

std::string safe(std::string s) {
    for (char& c : s)
        if (c == '/' || c == ' ') c = '_';
    return s;
}

// Flags the grid sets itself (or the runner adds), so a flag set may not.
const std::set<std::string> kGridFlags = {"--workload", "--param", "--profile", "--json",
                                          "--quiet"};

} // namespace

std::string Shard::text() const { return fmt::format("{}/{}", index, count); }

Shard parse_shard(const std::string& text) {
    Shard s;
    unsigned i = 0, n = 0;
    char slash = 0, extra = 0;
    std::istringstream in(text);
    // Digits only: ">> unsigned" would read "-3" as 2^32 - 3.
    bool digits = text.find_first_not_of("0123456789/") == std::string::npos;
    if (!digits || !(in >> i >> slash >> n) || slash != '/' || in >> extra || n == 0 || i == 0 ||
        i > n)
        throw std::invalid_argument(
            fmt::format("--shard '{}': expected I/N with 1 <= I <= N "
                        "(e.g. --shard 2/4 runs every 4th run from the 2nd)",
                        text));
    s.index = i;
    s.count = n;
    return s;
}

std::vector<SweepRun> shard_runs(const std::vector<SweepRun>& runs, Shard shard) {
    std::vector<SweepRun> out;
    for (auto& r : runs)
        if (r.index % shard.count == shard.index - 1) out.push_back(r);
    return out;
}

SweepSpec expand_sweep_spec(const ojson& spec, const std::string& where) {
    if (!spec.is_object()) bad(where, "the top level must be a JSON object");
    only_keys(spec, {"schema", "description", "workloads", "profiles", "flags", "set"}, where);
    if (!spec.contains("schema") || spec["schema"] != kSweepSpecSchema)
        bad(where, fmt::format("\"schema\" must be \"{}\"", kSweepSpecSchema));
    SweepSpec out;
    if (spec.contains("description")) out.description = spec["description"].get<std::string>();
    if (!spec.contains("workloads") || !spec["workloads"].is_array() || spec["workloads"].empty())
        bad(where, "\"workloads\" must be a non-empty list of {\"name\": ..., \"params\": {...}}");

    std::vector<std::string> profiles = {"nehalem-2009"};
    if (spec.contains("profiles")) {
        if (!spec["profiles"].is_array() || spec["profiles"].empty())
            bad(where, "\"profiles\" must be a non-empty list of profile names");
        profiles = spec["profiles"].get<std::vector<std::string>>();
        // A missing or malformed profile fails here, as it would in every run, before any starts.
        for (auto& p : profiles) load_profile(p, profile_dir());
    }
    std::vector<std::vector<std::string>> flag_sets = {{}};
    if (spec.contains("flags")) {
        if (!spec["flags"].is_array() || spec["flags"].empty())
            bad(where, "\"flags\" must be a non-empty list of flag lists, e.g. [[], [\"--pwc\", "
                       "\"off\"]]");
        flag_sets = spec["flags"].get<std::vector<std::vector<std::string>>>();
        for (auto& fs : flag_sets)
            for (auto& f : fs) {
                std::string flag = f.substr(0, f.find('='));
                if (flag == "--json" || flag == "--quiet")
                    bad(where, fmt::format("flag '{}' in \"flags\": the sweep writes each run's "
                                           "JSON itself (OUT/runs/NAME.json) and runs quietly",
                                           f));
                if (kGridFlags.count(flag))
                    bad(where, fmt::format("flag '{}' is set by the grid itself: use \"workloads\" "
                                           "and \"profiles\" instead",
                                           f));
            }
    }

    // "set": {KEY: VALUE or [VALUES]}: profile overrides as axes (`--set KEY=VALUE` on each run),
    // every combination with every flag set, the first key varying slowest.
    if (spec.contains("set")) {
        if (!spec["set"].is_object() || spec["set"].empty())
            bad(where, "\"set\" must be an object {PROFILE_KEY: VALUE or [VALUES]}, e.g. "
                       "{\"tlb.stlb.entries\": [512, 1024]}");
        std::vector<std::vector<std::string>> combos = {{}};
        for (auto it = spec["set"].begin(); it != spec["set"].end(); ++it) {
            std::vector<ojson> values;
            if (it.value().is_array())
                values.assign(it.value().begin(), it.value().end());
            else
                values.push_back(it.value());
            if (values.empty())
                bad(where, fmt::format("set.{}: give at least one value", it.key()));
            std::vector<std::vector<std::string>> next;
            for (auto& c : combos)
                for (auto& v : values) {
                    if (!v.is_primitive() || v.is_null())
                        bad(where, fmt::format("set.{}: {} is not a number, true/false or a "
                                               "string",
                                               it.key(), v.dump()));
                    auto d = c;
                    d.push_back("--set");
                    d.push_back(fmt::format("{}={}", it.key(),
                                            v.is_string() ? v.get<std::string>() : v.dump()));
                    next.push_back(std::move(d));
                }
            combos = std::move(next);
        }
        std::vector<std::vector<std::string>> crossed;
        for (auto& flags : flag_sets)
            for (auto& c : combos) {
                auto f = flags;
                f.insert(f.end(), c.begin(), c.end());
                crossed.push_back(std::move(f));
            }
        flag_sets = std::move(crossed);
    }

    auto catalogue = load_workloads(guest_dir());
    std::set<std::string> names, checked;
    for (size_t wi = 0; wi < spec["workloads"].size(); ++wi) {
        const ojson& w = spec["workloads"][wi];
        std::string wwhere = fmt::format("{}: workloads[{}]", where, wi);
        if (!w.is_object() || !w.contains("name") || !w["name"].is_string())
            bad(wwhere, "expected {\"name\": WORKLOAD, \"params\": {KEY: VALUE or [VALUES]}}");
        only_keys(w, {"name", "params"}, wwhere);
        std::string wname = w["name"];
        find_workload(catalogue, wname); // throws naming the valid workloads
        // The parameter grid: every combination, the first key varying slowest.
        std::vector<std::pair<std::string, std::vector<uint64_t>>> axes;
        if (w.contains("params")) {
            if (!w["params"].is_object())
                bad(wwhere, "\"params\" must be an object {KEY: VALUE or [VALUES]}");
            const Workload& wl = find_workload(catalogue, wname);
            for (auto it = w["params"].begin(); it != w["params"].end(); ++it) {
                if (std::none_of(wl.params.begin(), wl.params.end(),
                                 [&](const WorkloadParam& p) { return p.name == it.key(); })) {
                    std::vector<std::string> known;
                    for (auto& p : wl.params) known.push_back(p.name);
                    bad(wwhere + ".params",
                        fmt::format("unknown parameter \"{}\" ({} takes {})", it.key(), wname,
                                    known.empty() ? std::string("no parameters")
                                                  : fmt::format("{}", fmt::join(known, ", "))));
                }
                axes.emplace_back(it.key(), values_of(it.value(), wwhere + ".params." + it.key()));
            }
        }
        std::vector<std::vector<std::string>> combos = {{}};
        for (auto& [key, values] : axes) {
            std::vector<std::vector<std::string>> next;
            for (auto& c : combos)
                for (uint64_t v : values) {
                    auto d = c;
                    d.push_back(fmt::format("{}={}", key, v));
                    next.push_back(std::move(d));
                }
            combos = std::move(next);
        }
        for (auto& params : combos) {
            try {
                resolve_params(find_workload(catalogue, wname), params);
            } catch (const std::invalid_argument& e) {
                bad(wwhere + ".params", e.what());
            }
            for (auto& profile : profiles)
                for (auto& flags : flag_sets) {
                    SweepRun r;
                    r.index = out.runs.size();
                    r.name = wname;
                    for (auto& p : params) r.name += "." + p;
                    r.name += "." + safe(profile);
                    if (!flags.empty()) r.name += "." + flags_label(flags);
                    r.args = {"--workload", wname};
                    for (auto& p : params) r.args.insert(r.args.end(), {"--param", p});
                    r.args.insert(r.args.end(), {"--profile", profile});
                    r.args.insert(r.args.end(), flags.begin(), flags.end());
                    // A typo or a value a run would reject fails here, before any run starts;
                    // what the flags mean depends only on the profile and the flag set.
                    std::string key = profile + "\n" + fmt::format("{}", fmt::join(flags, " "));
                    if (checked.insert(key).second) {
                        try {
                            check_run_options(parse_run_args(r.args));
                        } catch (const std::invalid_argument& e) {
                            bad(fmt::format("{}: flags [{}]", where, fmt::join(flags, " ")),
                                e.what());
                        }
                    }
                    if (!names.insert(r.name).second)
                        bad(where, fmt::format("two runs are both named '{}': remove the duplicate",
                                               r.name));
                    out.runs.push_back(std::move(r));
                }
        }
    }
    return out;
}

SweepSpec load_sweep_spec(const std::filesystem::path& path) {
    if (std::filesystem::is_directory(path))
        throw std::invalid_argument(fmt::format(
            "sweep spec '{}' is a directory: give the spec's JSON file", path.string()));
    std::ifstream in(path);
    if (!in)
        throw std::invalid_argument(
            fmt::format("cannot read sweep spec '{}': no such file", path.string()));
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    ojson spec;
    try {
        spec = ojson::parse(text);
    } catch (const ojson::exception& e) {
        throw std::invalid_argument(fmt::format("sweep spec '{}' is not valid JSON: {}",
                                                path.string(), json_error_text(text, e)));
    }
    try {
        return expand_sweep_spec(spec, "'" + path.string() + "'");
    } catch (const ojson::exception& e) {
        // A field of the wrong JSON type (nlohmann names the type it found).
        throw std::invalid_argument(fmt::format(
            "sweep spec '{}': a field has the wrong type ({}); expected \"description\": string, "
            "\"profiles\": [string], \"flags\": [[string]] (the format is in README.md, "
            "\"Sweeps\")",
            path.string(), e.what()));
    }
}

} // namespace vmmu
