// `vmmu sweep SPEC.json [--jobs N] [--shard I/N] [--out DIR] [--merge]`.
#include "engine/cli/cli_errors.h"
#include "engine/cli/commands.h"
#include "engine/cli/progress.h"
#include "engine/cli/report_outputs.h"
#include "engine/experiment/interrupt.h"
#include "engine/experiment/paths.h"
#include "engine/experiment/sweep.h"
#include "engine/output/provenance_json.h"

#include <fmt/format.h>

#include <chrono>
#include <stdexcept>

namespace vmmu {
namespace fs = std::filesystem;

namespace {

struct SweepArgs {
    std::string spec;
    unsigned jobs = 0;
    std::string shard = "1/1";
    std::string out;
    bool merge = false;
    bool no_progress = false;
    Exports exports;
};

// Every run of a merged sweep that wrote a document, for --export.
std::vector<ExportRun> merged_runs(const nlohmann::ordered_json& merged) {
    std::vector<ExportRun> runs;
    for (auto it = merged["runs"].begin(); it != merged["runs"].end(); ++it)
        if (it.value()["result"].is_object()) runs.push_back({it.key(), it.value()["result"]});
    return runs;
}

// The sweep's own provenance: the tools, and the spec it expanded (each run has its own block).
nlohmann::ordered_json sweep_provenance(const std::string& spec_path) {
    Provenance p = tool_provenance();
    p.inputs["sweep_spec"] = file_sha256(spec_path);
    return provenance_json(p);
}

int merge_only(const SweepSpec& spec, const fs::path& out, const std::string& spec_path,
               const Exports& exports) {
    std::vector<std::string> missing;
    for (auto& r : spec.runs)
        if (!fs::exists(out / "runs" / (r.name + ".json"))) missing.push_back(r.name);
    if (!missing.empty()) {
        fmt::print(stderr,
                   "vmmu sweep --merge: {} of {} runs have no JSON in {}/runs (first: {}); run "
                   "every shard into this directory first\n",
                   missing.size(), spec.runs.size(), out.string(), missing.front());
        return 2;
    }
    auto merged = merge_sweep(spec, spec.runs, out / "runs", Shard{}, 0, 0);
    add_provenance(merged, sweep_provenance(spec_path));
    write_file_atomic(out / "sweep.json", merged.dump(2) + "\n");
    exports.write(merged_runs(merged));
    fmt::print("merged {} runs into {}\n", spec.runs.size(), (out / "sweep.json").string());
    return merged["failed"].get<uint64_t>() == 0 ? 0 : kExitRunsFailed;
}

int sweep_main(const SweepArgs& a) {
    SweepSpec spec = load_sweep_spec(a.spec);
    Shard shard = parse_shard(a.shard);
    fs::path out = a.out.empty()
                       ? fs::path("results/latest") / ("sweep-" + fs::path(a.spec).stem().string())
                       : fs::path(a.out);
    check_output_dir(out.string(), "--out");
    a.exports.check();
    if (a.merge && shard.count != 1)
        throw std::invalid_argument("--merge runs nothing and merges every shard's runs: drop "
                                    "--shard (and run it once, after all shards)");
    if (a.merge) return merge_only(spec, out, a.spec, a.exports);
    auto runs = shard_runs(spec.runs, shard);
    SweepConfig c;
    c.jobs = a.jobs ? a.jobs : default_jobs();
    c.runs_dir = out / "runs";
    c.logs_dir = out / "logs";
    SweepProgress progress(runs.size());
    if (!a.no_progress)
        c.on_finished = [&](const SweepOutcome& o, size_t done, size_t running) {
            progress.finished(o, done, running);
        };
    fmt::print(stderr, "vmmu sweep: {} of {} runs (shard {}), {} at a time, into {}\n", runs.size(),
               spec.runs.size(), shard.text(), c.jobs, out.string());
    auto t0 = std::chrono::steady_clock::now();
    // SIGINT/SIGTERM/SIGHUP: runs stop, what they wrote is still merged; held past the pool's own
    // guard so a signal during the merge is reported rather than fatal.
    InterruptGuard interrupt;
    auto outcomes = run_sweep(runs, c);
    double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    auto merged = merge_sweep(spec, runs, c.runs_dir, shard, wall, c.jobs);
    add_provenance(merged, sweep_provenance(a.spec));
    fs::path merged_path = out / (shard.count == 1 ? std::string("sweep.json")
                                                   : fmt::format("sweep.shard-{}-of-{}.json",
                                                                 shard.index, shard.count));
    write_file_atomic(merged_path, merged.dump(2) + "\n");
    a.exports.write(merged_runs(merged));
    int failed = 0, not_started = 0;
    for (auto& o : outcomes)
        if (!o.started) {
            ++not_started;
        } else if (o.exit_code != 0) {
            ++failed;
            fmt::print(stderr, "vmmu sweep: {} exited with {}: see {}\n", o.name, o.exit_code,
                       (c.logs_dir / (o.name + ".log")).string());
        }
    if (not_started)
        fmt::print(stderr, "vmmu sweep: interrupted; {} runs were not started\n", not_started);
    fmt::print("{} runs ({} failed) in {:.1f} s; wrote {}\n", runs.size(), failed, wall,
               merged_path.string());
    if (interrupt.exit_code()) return interrupt.exit_code();
    return failed ? kExitRunsFailed : 0;
}

} // namespace

void add_sweep_command(CLI::App& app, Action& action) {
    auto* c = app.add_subcommand("sweep",
                                 "run a grid of workloads x params x profiles x flags on all local "
                                 "cores, one JSON per run plus a merged one");
    auto a = std::make_shared<SweepArgs>();
    c->add_option("spec", a->spec,
                  "sweep spec (vmmu.sweep-spec/1 JSON, see results/PERFORMANCE.md)")
        ->required();
    c->add_option("--jobs,-j", a->jobs, "runs at a time (default: the number of local cores)");
    c->add_option("--shard", a->shard,
                  "run only share I of N (1 <= I <= N): every Nth run of the grid, starting "
                  "with run I (2/4 runs runs 2, 6, 10, ...)")
        ->capture_default_str();
    c->add_option("--out", a->out, "output directory (default: results/latest/sweep-<spec name>)")
        ->check(non_empty_path());
    c->add_flag("--merge", a->merge,
                "run nothing: merge every run's JSON already in --out into sweep.json");
    c->add_flag("--no-progress", a->no_progress, "no progress output on stderr");
    a->exports.add(c);
    c->callback([a, &action] { action = [a] { return sweep_main(*a); }; });
}

} // namespace vmmu
