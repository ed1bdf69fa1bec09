// `vmmu baseline check|update`: the regression suite against its committed results.
#include "engine/cli/baseline.h"

#include "engine/cli/commands.h"
#include "engine/cli/progress.h"
#include "engine/experiment/interrupt.h"
#include "engine/experiment/compare.h"
#include "engine/output/compare_report.h"
#include "engine/experiment/paths.h"
#include "engine/experiment/sweep.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

namespace vmmu {
namespace fs = std::filesystem;

namespace {

fs::path make_temp_dir() {
    std::string templ = (fs::temp_directory_path() / "vmmu-baseline-XXXXXX").string();
    if (!mkdtemp(templ.data()))
        throw std::runtime_error("cannot create a temporary directory in " + templ);
    return templ;
}

struct SuiteRun {
    SweepSpec spec;
    fs::path dir, tmp;
    std::vector<SweepOutcome> outcomes;
    int failed = 0;
    int interrupted = 0; // 128 + the signal that stopped the suite, 0 if none
};

// Runs the whole suite into a fresh temporary directory.
SuiteRun run_suite(const BaselineArgs& a) {
    SuiteRun s;
    s.dir = baseline_dir(a.dir);
    s.spec = load_sweep_spec(s.dir / "suite.json");
    s.tmp = make_temp_dir();
    SweepConfig c;
    c.jobs = a.jobs ? a.jobs : default_jobs();
    c.runs_dir = s.tmp / "runs";
    c.logs_dir = s.tmp / "logs";
    SweepProgress progress(s.spec.runs.size());
    if (!a.no_progress)
        c.on_finished = [&](const SweepOutcome& o, size_t done, size_t running) {
            progress.finished(o, done, running);
        };
    fmt::print(stderr, "vmmu baseline: running the {} runs of {} ({} at a time)\n",
               s.spec.runs.size(), (s.dir / "suite.json").string(), c.jobs);
    InterruptGuard interrupt;
    s.outcomes = run_sweep(s.spec.runs, c);
    // An interrupted suite is neither a pass nor a regression.
    if ((s.interrupted = interrupt.exit_code())) {
        fmt::print(stderr, "vmmu baseline: interrupted; partial results in {}\n", s.tmp.string());
        return s;
    }
    // A guest that fails its self-check still writes a document: its status is a value the
    // baseline holds like any other. Only a run that wrote nothing cannot be compared.
    for (auto& o : s.outcomes) {
        fs::path log = c.logs_dir / (o.name + ".log");
        if (!fs::exists(c.runs_dir / (o.name + ".json"))) {
            ++s.failed;
            fmt::print(stderr, "vmmu baseline: run {} wrote no JSON (exit {}): see {}\n", o.name,
                       o.exit_code, log.string());
        } else if (o.exit_code != 0) {
            fmt::print(stderr,
                       "vmmu baseline: warning: run {} exited with {} (status recorded in "
                       "its JSON): see {}\n",
                       o.name, o.exit_code, log.string());
        }
    }
    return s;
}

// Committed run files that the suite no longer produces.
std::vector<fs::path> stale_files(const SuiteRun& s) {
    std::set<std::string> names;
    for (auto& r : s.spec.runs) names.insert(r.name + ".json");
    std::vector<fs::path> stale;
    if (fs::is_directory(s.dir / "runs"))
        for (auto& e : fs::directory_iterator(s.dir / "runs"))
            if (e.path().extension() == ".json" && !names.count(e.path().filename().string()))
                stale.push_back(e.path());
    return stale;
}

} // namespace

fs::path baseline_dir(const std::string& dir) {
    if (!dir.empty()) {
        if (!fs::exists(fs::path(dir) / "suite.json"))
            throw std::invalid_argument(
                fmt::format("--dir '{}' has no suite.json: give the directory that "
                            "holds the suite (results/baselines)",
                            dir));
        return dir;
    }
    for (fs::path start : {fs::current_path(), executable_dir()})
        for (fs::path d = fs::absolute(start); !d.empty(); d = d.parent_path()) {
            if (fs::exists(d / "results" / "baselines" / "suite.json"))
                return d / "results" / "baselines";
            if (d == d.parent_path()) break;
        }
    throw std::invalid_argument(
        "no results/baselines/suite.json above the current directory or the vmmu "
        "executable: run from the source tree or pass --dir");
}

int baseline_update(const BaselineArgs& a) {
    // Held over the copy below too: a signal while the baselines are rewritten waits until they
    // are whole again (the suite's own guard inside shares this one).
    InterruptGuard whole;
    SuiteRun s = run_suite(a);
    if (s.interrupted) return s.interrupted;
    if (s.failed) {
        fmt::print(stderr,
                   "vmmu baseline update: {} runs failed; the baselines were not touched (new "
                   "results in {})\n",
                   s.failed, s.tmp.string());
        return 1;
    }
    int changed = 0, added = 0;
    for (auto& r : s.spec.runs) {
        fs::path old_path = s.dir / "runs" / (r.name + ".json"),
                 new_path = s.tmp / "runs" / (r.name + ".json");
        if (!fs::exists(old_path)) {
            ++added;
        } else {
            auto base = read_vmmu_json(old_path), now = read_vmmu_json(new_path);
            CompareResult c = compare_json(base, now, 0);
            auto prov = compare_provenance(base, now);
            bool inputs = std::any_of(prov.begin(), prov.end(),
                                      [](const ProvenanceDifference& d) { return !d.tool_only; });
            // Unchanged runs keep their file, so git shows only runs whose values or inputs
            // moved (a new vmmu version alone rewrites nothing).
            if (c.changes.empty() && !inputs) continue;
            ++changed;
            if (c.changes.empty())
                fmt::print("{}: inputs changed (provenance), values identical\n", r.name);
            else
                fmt::print("{}: {} values changed\n", r.name, c.changes.size());
        }
        write_file_atomic(old_path, read_text(new_path));
    }
    auto stale = stale_files(s);
    for (auto& p : stale) {
        fmt::print("removed {} (no longer in the suite)\n", p.string());
        fs::remove(p);
    }
    fs::remove_all(s.tmp);
    fmt::print(
        "baselines in {}: {} runs, {} changed, {} new, {} removed. Commit them together with the "
        "change that moved them, and say why in the message.\n",
        (s.dir / "runs").string(), s.spec.runs.size(), changed, added, stale.size());
    return 0;
}

int baseline_check(const BaselineArgs& a) {
    check_tolerance(a.tolerance);
    a.report.check();
    a.exports.check();
    ComparePolicy policy = a.policy.policy(a.tolerance);
    SuiteRun s = run_suite(a);
    if (s.interrupted) return s.interrupted;
    ComparisonReport r;
    r.kind = ComparisonReport::Kind::Baseline;
    r.base = a.dir.empty() ? std::string("results/baselines") : a.dir;
    r.now = (s.dir / "runs").string();
    r.tolerance_pct = policy.tolerance_pct;
    r.strict_provenance = a.report.strict_provenance;
    r.runs = s.spec.runs.size();
    r.update_hint = a.dir.empty() ? std::string("vmmu baseline update")
                                  : fmt::format("vmmu baseline update --dir {}", a.dir);
    for (auto& run : s.spec.runs) {
        fs::path old_path = s.dir / "runs" / (run.name + ".json"),
                 new_path = s.tmp / "runs" / (run.name + ".json");
        FileComparison f;
        f.name = run.name;
        f.base = old_path.string();
        f.now = new_path.string();
        if (!fs::exists(new_path)) {
            auto o = std::find_if(s.outcomes.begin(), s.outcomes.end(),
                                  [&](const SweepOutcome& x) { return x.name == run.name; });
            f.problem = fmt::format("the run wrote no JSON (exit {}): see {}",
                                    o == s.outcomes.end() ? -1 : o->exit_code,
                                    (s.tmp / "logs" / (run.name + ".log")).string());
        } else if (!fs::exists(old_path)) {
            f.problem = fmt::format("no committed baseline ({})", old_path.string());
        } else {
            auto base = read_vmmu_json(old_path), now = read_vmmu_json(new_path);
            f.result = compare_json(base, now, policy);
            f.provenance = compare_provenance(base, now);
        }
        r.files.push_back(std::move(f));
    }
    if (!a.exports.empty()) {
        std::vector<ExportRun> runs;
        for (auto& run : s.spec.runs) {
            fs::path p = s.tmp / "runs" / (run.name + ".json");
            if (fs::exists(p))
                runs.push_back({run.name, nlohmann::ordered_json::parse(read_text(p))});
        }
        a.exports.write(runs);
    }
    for (auto& p : stale_files(s)) {
        FileComparison f;
        f.name = p.string();
        f.base = p.string();
        f.problem = "committed baseline of a run the suite no longer has";
        r.files.push_back(std::move(f));
    }
    if (r.failed() || a.keep)
        r.kept = s.tmp.string();
    else
        fs::remove_all(s.tmp);
    a.report.write(r);
    return r.failed() ? kExitValuesMoved : 0;
}

void add_baseline_command(CLI::App& app, Action& action) {
    auto* c = app.add_subcommand("baseline",
                                 "the regression suite: rerun it and compare with the committed "
                                 "baselines (check), or regenerate them on purpose (update)");
    c->require_subcommand(1);
    auto a = std::make_shared<BaselineArgs>();
    auto common = [a](CLI::App* s) {
        s->add_option(
            "--dir", a->dir,
            "baseline directory holding suite.json and runs/ (default: results/baselines)");
        s->add_option("--jobs,-j", a->jobs, "runs at a time (default: every local core)");
        s->add_flag("--no-progress", a->no_progress, "no progress output on stderr");
    };
    auto* check = c->add_subcommand(
        "check", "run the suite, compare with the baselines; exit 5 if anything moved");
    common(check);
    check
        ->add_option("--tolerance", a->tolerance,
                     "percent a number may move (default 0: counters are exact)")
        ->each([a](const std::string&) { a->policy.tolerance_given = true; });
    a->policy.add(check);
    a->report.add(check);
    a->exports.add(check);
    check->add_flag("--keep", a->keep, "keep the new results (their directory is printed)");
    check->callback([a, &action] { action = [a] { return baseline_check(*a); }; });
    auto* update =
        c->add_subcommand("update", "run the suite and overwrite the baselines with its results");
    common(update);
    update->callback([a, &action] { action = [a] { return baseline_update(*a); }; });
}

} // namespace vmmu
