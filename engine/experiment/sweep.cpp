#include "engine/experiment/sweep.h"

#include "engine/experiment/paths.h"
#include "engine/experiment/process_pool.h"

#include <fmt/format.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <unistd.h>

namespace vmmu {
namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

namespace {

// The vmmu executable to run children with (tests that drive the CLI in-process set VMMU_EXE).
std::string self_exe() {
    if (const char* e = std::getenv("VMMU_EXE")) return e;
    fs::path exe = executable_path();
    if (exe.empty()) throw std::runtime_error("cannot find the vmmu executable (/proc/self/exe)");
    return exe.string();
}

// The child `vmmu run` of one grid run: its JSON under runs/, its console and messages in logs/.
ChildJob run_job(const std::string& exe, const SweepRun& r, const SweepConfig& c) {
    ChildJob job;
    job.argv = {exe, "run", "--quiet"};
    job.argv.insert(job.argv.end(), r.args.begin(), r.args.end());
    job.argv.insert(job.argv.end(), {"--json", (c.runs_dir / (r.name + ".json")).string()});
    job.output = (c.logs_dir / (r.name + ".log")).string();
    job.null_stdin = true;
    return job;
}

// A run JSON found under a grid run's name must be that run (merging collects files that other
// machines wrote): its workload, parameters and profile name are checked against the run's flags.
void check_run_matches(const ojson& j, const SweepRun& r, const fs::path& p) {
    auto mismatch = [&](const std::string& what) {
        throw std::invalid_argument(fmt::format(
            "run JSON '{}' is not the grid's run {}: {}. It was written by another sweep or spec; "
            "remove it and rerun that run (its shard)",
            p.string(), r.name, what));
    };
    if (!j.contains("workload") || !j["workload"].is_object() || !j.contains("config"))
        mismatch("it has no \"workload\" and \"config\" (not a vmmu.run/1 document)");
    const ojson& w = j["workload"];
    for (size_t i = 0; i + 1 < r.args.size(); ++i) {
        const std::string &flag = r.args[i], &value = r.args[i + 1];
        if (flag == "--workload" && w.value("name", "") != value)
            mismatch(fmt::format("its workload is '{}', not '{}'", w.value("name", ""), value));
        if (flag == "--param") {
            std::string key = value.substr(0, value.find('='));
            std::string want = value.substr(value.find('=') + 1);
            if (!w.contains("params") || !w["params"].contains(key) ||
                w["params"][key].dump() != want)
                mismatch(fmt::format("its parameter {} is not {}", key, want));
        }
        // A profile given by name (not a file) is that profile's name in the run's config.
        if (flag == "--profile" && value.find('/') == std::string::npos &&
            value.find(".json") == std::string::npos && j["config"].value("profile", "") != value)
            mismatch(fmt::format("its profile is '{}', not '{}'", j["config"].value("profile", ""),
                                 value));
    }
}

} // namespace

unsigned default_jobs() { return std::max(1u, std::thread::hardware_concurrency()); }

std::vector<SweepOutcome> run_sweep(const std::vector<SweepRun>& runs, const SweepConfig& c) {
    fs::create_directories(c.runs_dir);
    fs::create_directories(c.logs_dir);
    // A stale JSON or log from an earlier sweep must not pass for one of these runs' results,
    // including runs an interrupt keeps from starting.
    for (auto& r : runs) {
        fs::remove(c.runs_dir / (r.name + ".json"));
        fs::remove(c.logs_dir / (r.name + ".log"));
    }
    std::string exe = self_exe();
    std::vector<ChildJob> jobs;
    for (auto& r : runs) jobs.push_back(run_job(exe, r, c));
    std::vector<SweepOutcome> out(runs.size());
    for (size_t i = 0; i < runs.size(); ++i) out[i].name = runs[i].name;
    size_t started = 0, done = 0;
    PoolOptions po;
    po.jobs = c.jobs;
    // A run whose sweep dies stops between blocks and still writes its (incomplete) JSON.
    po.death_signal = SIGTERM;
    po.on_start = [&](size_t) { ++started; };
    po.on_finish = [&](size_t i, const ChildStatus& s) {
        out[i].exit_code = s.exit_code;
        out[i].seconds = s.seconds;
        ++done;
        if (c.on_finished) c.on_finished(out[i], done, started - done);
    };
    PoolResult pool = run_pool(jobs, po);
    for (size_t i = 0; i < runs.size(); ++i) {
        // The vmmu executable itself could not be run: no run's result would mean anything.
        if (!pool.children[i].start_error.empty())
            throw std::runtime_error(pool.children[i].start_error);
        out[i].started = pool.children[i].started;
    }
    return out;
}

ojson merge_sweep(const SweepSpec& spec, const std::vector<SweepRun>& runs,
                  const fs::path& runs_dir, Shard shard, double wall_seconds, unsigned jobs) {
    ojson m;
    m["schema"] = "vmmu.sweep/1";
    m["description"] = spec.description;
    m["shard"] = shard.text();
    m["grid_runs"] = spec.runs.size();
    ojson all = ojson::object();
    uint64_t failed = 0;
    for (auto& r : runs) {
        ojson e;
        e["args"] = r.args;
        fs::path p = runs_dir / (r.name + ".json");
        if (!fs::exists(p)) {
            e["result"] = nullptr;
            e["error"] = fs::exists(runs_dir.parent_path() / "logs" / (r.name + ".log"))
                             ? fmt::format("no JSON written: see logs/{}.log", r.name)
                             : std::string("not run (the sweep was interrupted, or its shard "
                                           "has not run here)");
            ++failed;
        } else {
            ojson j = ojson::parse(read_text(p), nullptr, false);
            if (j.is_discarded())
                throw std::invalid_argument(
                    fmt::format("run JSON '{}' is not valid JSON: rerun the sweep", p.string()));
            check_run_matches(j, r, p);
            if (j.value("status", "") != "ok") ++failed;
            e["result"] = std::move(j);
        }
        all[r.name] = std::move(e);
    }
    m["failed"] = failed;
    m["runs"] = std::move(all);
    m["sim"] = {{"wall_seconds", wall_seconds}, {"jobs", jobs}};
    return m;
}

} // namespace vmmu
