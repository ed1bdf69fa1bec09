// `vmmu study scaling`: flags, progress and console output of the scaling study
// (engine/experiment/scaling_study.h).
#include "engine/cli/cli_errors.h"
#include "engine/cli/commands.h"
#include "engine/cli/progress.h"
#include "engine/experiment/paths.h"
#include "engine/experiment/run_flags.h"
#include "engine/experiment/scaling_study.h"
#include "engine/output/run_report.h"
#include "engine/output/study_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <thread>

namespace vmmu {
namespace fs = std::filesystem;

namespace {

struct StudyFlags {
    RunFlags run;
    ScalingOptions study;
    std::string json_path;
};

int run_study(StudyFlags& f) {
    if (!f.json_path.empty()) check_output_file(f.json_path, "--json");
    if (!f.study.out_dir.empty()) check_output_dir(f.study.out_dir, "--out");
    ScalingOptions o = f.study;
    o.base = f.run.resolve();
    // Drawn once the flags have been checked and the runs start.
    std::optional<ProgressBar> bar;
    size_t bar_total = 0;
    // The sensitivity grid (after the K runs) reports no K: it gets a bar of its own.
    auto progress = [&](size_t done, size_t total, const std::vector<uint64_t>& running) {
        if (!bar || total != bar_total) {
            if (bar) bar->finish();
            bar.emplace(running.empty() && bar ? "study sensitivity" : "study scaling", total);
            bar_total = total;
        }
        std::string note = running.empty() ? "" : "running K=";
        for (uint64_t k : running) note += fmt::format("{} ", k);
        bar->update(done, note);
    };
    ScalingStudy s = run_scaling_study(o, run_json, progress);
    if (bar) bar->finish();
    nlohmann::ordered_json study = study_json(s);
    fmt::print("{}", study_table(study));
    if (study.contains("sensitivity")) fmt::print("{}", sensitivity_table(study["sensitivity"]));
    fmt::print("sim: {:.1f} s wall for {} runs{}\n", s.wall_seconds, s.finished,
               s.sensitivity ? fmt::format(" and {} sensitivity runs",
                                           s.sensitivity->points.size() /
                                               s.sensitivity->axes.actions_per_sec.size())
                             : "");
    std::string json_path = f.json_path;
    if (json_path.empty() && !o.out_dir.empty())
        json_path = (fs::path(o.out_dir) / "study.json").string();
    if (!json_path.empty()) {
        write_file_atomic(json_path, study.dump(2) + "\n");
        fmt::print("wrote {}\n", json_path);
    }
    if (s.interrupted) {
        fmt::print(stderr, "vmmu: study interrupted; kept {} finished run(s)\n", s.finished);
        return 128 + (s.signal ? s.signal : 2); // as a shell reports a signal's death
    }
    return s.status == "ok" ? 0 : 3;
}

} // namespace

void add_study_command(CLI::App& app, Action& action) {
    auto* study = app.add_subcommand("study", "studies built from several runs");
    study->require_subcommand(1);
    auto* c = study->add_subcommand(
        "scaling", "sessions per host under each MMU scheme: the sessions workload at several K "
                   "and a host capacity model");
    auto f = std::make_shared<StudyFlags>();
    f->run.o.workload = "sessions";
    f->run.add(c);
    // The study is the sessions workload at several K: no other workload to choose.
    c->remove_option(c->get_option("--workload"));
    c->remove_option(c->get_option("--args"));
    f->run.workload_flag = nullptr; // --program only adds a file to the archive here
    ScalingOptions& s = f->study;
    s.jobs = std::min(2u, std::max(1u, std::thread::hardware_concurrency()));
    c->add_option("--sessions", s.sessions, "comma list of concurrent session counts K")
        ->capture_default_str();
    c->add_option("--shadow-profile", s.shadow_profile, "CPU profile of the shadow host");
    c->add_option("--slat-profile", s.slat_profile, "CPU profile of the slat host");
    c->add_flag("--original-hardware", s.original_hardware,
                "penryn-2008 for shadow vs nehalem-2009 for slat, as in the 2009 comparison");
    c->add_flag("--hyperv-2008-vs-r2", s.hyperv_2008_vs_r2,
                "the published pair: Hyper-V 2008's VTLB with an enlightened guest on penryn-2008 "
                "(shadow) vs Hyper-V 2008 R2 on nehalem-2009 (slat); implies --hypervisor hyperv");
    c->add_flag("--sensitivity", s.sensitivity,
                "also run the ratio over a grid of the study's uncertain assumptions (work per "
                "launch, working set, think time, actions/s per user); on with "
                "--hyperv-2008-vs-r2");
    c->add_option("--cores", s.host.cores, "host cores C")->capture_default_str();
    auto* ghz = c->add_option("--ghz", s.ghz,
                              "host clock F in GHz for every backend, 0.1 to 10 (default: "
                              "profile's)");
    c->add_option("--util", s.host.utilisation, "utilisation ceiling U (0-1]")
        ->capture_default_str();
    c->add_option("--actions-per-sec", s.host.actions_per_sec, "actions per second per user A")
        ->capture_default_str();
    c->add_option("--jobs", s.jobs, "runs at a time (child processes)")->capture_default_str();
    c->add_option("--json", f->json_path, "write the vmmu.study.scaling/1 JSON here")
        ->check(non_empty_path());
    c->add_option("--out", s.out_dir, "directory for study.json and runs/sessions-kK.json")
        ->check(non_empty_path());
    c->callback([f, ghz, &action] {
        action = [f, ghz] {
            // 0 stands for "the profile's clock" inside: a 0 the user typed is still checked.
            if (ghz->count()) check_host_ghz(f->study.ghz);
            return run_study(*f);
        };
    });
}

} // namespace vmmu
