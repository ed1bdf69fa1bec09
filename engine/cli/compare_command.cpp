// `vmmu compare BASE NEW [--tolerance PCT] [--format F] [--output FILE]`: two vmmu JSON documents,
// or two directories of them.
#include "engine/cli/baseline.h"
#include "engine/cli/commands.h"
#include "engine/cli/report_outputs.h"
#include "engine/experiment/compare.h"
#include "engine/output/compare_report.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace vmmu {
namespace fs = std::filesystem;

namespace {

struct CompareArgs {
    std::string base, now;
    double tolerance = 0;
    bool update = false;
    bool jobs_given = false;
    BaselineArgs baseline;
    ReportOutputs report;
    PolicyFlags policy;
};

FileComparison compare_files(const fs::path& a, const fs::path& b, const ComparePolicy& tol,
                             const std::string& name) {
    auto ja = read_vmmu_json(a), jb = read_vmmu_json(b);
    require_same_schema(ja, jb, a.string(), b.string());
    FileComparison f;
    f.name = name;
    f.base = a.string();
    f.now = b.string();
    f.result = compare_json(ja, jb, tol);
    f.provenance = compare_provenance(ja, jb);
    return f;
}

// "a.json, b.json and 3 more": enough names to recognise a directory.
std::string name_list(const std::set<std::string>& names) {
    std::vector<std::string> first;
    for (auto& n : names) {
        if (first.size() == 4) break;
        first.push_back(n);
    }
    std::string s = fmt::format("{}", fmt::join(first, ", "));
    if (names.size() > first.size()) s += fmt::format(" and {} more", names.size() - first.size());
    return s;
}

// Every .json file under either directory, by its path relative to that directory (a sweep's
// DIR/runs/*.json is compared along with DIR/sweep.json).
void compare_dirs(const fs::path& a, const fs::path& b, const ComparePolicy& tol,
                  ComparisonReport& r) {
    std::set<std::string> names, in_a, in_b;
    for (auto* d : {&a, &b})
        for (auto& e : fs::recursive_directory_iterator(*d))
            if (e.is_regular_file() && e.path().extension() == ".json")
                (d == &a ? in_a : in_b).insert(fs::relative(e.path(), *d).string());
    names = in_a;
    names.insert(in_b.begin(), in_b.end());
    // With nothing in common every value would count as moved: say what is missing instead.
    if (!in_a.empty() && !in_b.empty() &&
        std::none_of(in_a.begin(), in_a.end(), [&](const std::string& n) { return in_b.count(n); }))
        throw std::invalid_argument(fmt::format(
            "'{}' and '{}' have no .json file in common: missing in '{}': {}; missing in '{}': "
            "{} (compare the directories one run or sweep wrote, or two files)",
            a.string(), b.string(), b.string(), name_list(in_a), a.string(), name_list(in_b)));
    if (names.empty())
        throw std::invalid_argument(fmt::format(
            "neither '{}' nor '{}' holds a .json file: give the directories 'vmmu sweep --out' or "
            "'vmmu baseline' wrote (or two files)",
            a.string(), b.string()));
    for (auto& n : names) {
        if (!fs::exists(a / n) || !fs::exists(b / n)) {
            FileComparison f;
            f.name = n;
            (fs::exists(a / n) ? f.base : f.now) = ((fs::exists(a / n) ? a : b) / n).string();
            f.problem = fmt::format("only in {}", fs::exists(a / n) ? a.string() : b.string());
            r.files.push_back(std::move(f));
            continue;
        }
        r.files.push_back(
            compare_files(a / n, b / n, tol, fs::path(n).replace_extension().string()));
    }
}

int compare_main(const CompareArgs& a) {
    if (!a.update && (!a.baseline.dir.empty() || a.jobs_given))
        throw std::invalid_argument("--dir and --jobs go with --update (they choose where and how "
                                    "the baselines are regenerated); drop them to compare files");
    if (a.update) {
        if (!a.base.empty())
            throw std::invalid_argument(
                "vmmu compare --update takes no files: it regenerates the baselines "
                "from their suite (see 'vmmu baseline update --help')");
        return baseline_update(a.baseline);
    }
    if (a.base.empty() || a.now.empty())
        throw std::invalid_argument(
            "vmmu compare needs two files (or two directories): BASE.json NEW.json");
    check_tolerance(a.tolerance);
    a.report.check();
    ComparePolicy policy = a.policy.policy(a.tolerance);
    bool da = fs::is_directory(a.base), db = fs::is_directory(a.now);
    if (da != db)
        throw std::invalid_argument(fmt::format(
            "'{}' and '{}': compare two files or two directories, not one of each", a.base, a.now));
    ComparisonReport r;
    r.kind = da ? ComparisonReport::Kind::Directories : ComparisonReport::Kind::Files;
    r.base = a.base;
    r.now = a.now;
    r.tolerance_pct = policy.tolerance_pct;
    r.strict_provenance = a.report.strict_provenance;
    if (da)
        compare_dirs(a.base, a.now, policy, r);
    else
        r.files.push_back(compare_files(a.base, a.now, policy, fs::path(a.now).stem().string()));
    a.report.write(r);
    return r.failed() ? kExitValuesMoved : 0;
}

} // namespace

void add_compare_command(CLI::App& app, Action& action) {
    auto* c = app.add_subcommand("compare",
                                 "compare two vmmu JSON documents (or directories of them) "
                                 "outside 'sim' ('provenance' apart); exit 5 if anything moved "
                                 "beyond the tolerance");
    auto a = std::make_shared<CompareArgs>();
    c->add_option("base", a->base, "baseline JSON file or directory");
    c->add_option("new", a->now, "new JSON file or directory");
    c->add_option("--tolerance", a->tolerance,
                  "percent a number may move before it counts (default 0)")
        ->capture_default_str()
        ->each([a](const std::string&) { a->policy.tolerance_given = true; });
    a->policy.add(c);
    a->report.add(c);
    c->add_flag("--update", a->update,
                "regenerate the committed baselines from their suite (= 'vmmu baseline update')");
    c->add_option("--dir", a->baseline.dir,
                  "with --update: the baseline directory (default: results/baselines)");
    c->add_option("--jobs,-j", a->baseline.jobs, "with --update: runs at a time")
        ->each([a](const std::string&) { a->jobs_given = true; });
    c->callback([a, &action] { action = [a] { return compare_main(*a); }; });
}

} // namespace vmmu
