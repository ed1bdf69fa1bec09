// `vmmu study density`: flags and console output of the density study
// (engine/experiment/density.h).
#include "engine/cli/cli_errors.h"
#include "engine/cli/commands.h"
#include "engine/experiment/density.h"
#include "engine/experiment/interrupt.h"
#include "engine/experiment/paths.h"
#include "engine/experiment/run_flags.h"
#include "engine/output/study_report.h"

#include <fmt/format.h>

namespace vmmu {
namespace {

struct DensityFlags {
    RunFlags run;
    DensityOptions study;
    std::string json_path;
};

int run_density(DensityFlags& f) {
    if (!f.json_path.empty()) check_output_file(f.json_path, "--json");
    DensityOptions o = f.study;
    o.vm = f.run.resolve();
    InterruptGuard interrupt;
    DensityStudy d = run_density_study(o, [](const DensityRow& row, bool dedup) {
        fmt::print("{}", density_point_line(row, dedup));
    });
    DensityReport report = density_report(d);
    fmt::print("{}", report.table);
    if (!f.json_path.empty()) {
        write_file_atomic(f.json_path, report.doc.dump(2) + "\n");
        fmt::print("wrote {}\n", f.json_path);
    }
    return interrupt.exit_code();
}

} // namespace

void add_density_command(CLI::App& app, Action& action) {
    CLI::App* study = app.get_subcommand("study");
    auto* c = study->add_subcommand(
        "density", "VMs of one workload added one by one until the host CPU or memory runs out");
    auto f = std::make_shared<DensityFlags>();
    f->run.o.workload = "forkwait";
    f->run.o.guest_mib = 256;
    f->run.backends = "shadow,slat";
    f->run.add(c);
    c->add_option("--max-vms", f->study.max_vms, "largest number of VMs measured (default 6)");
    c->add_option("--host-mib", f->study.host_mib,
                  "host memory in MiB (default 16384; a few MiB make memory the limit)");
    c->add_option("--dedup-baseline", f->study.dedup_baseline,
                  "with --dedup, also measure every N without deduplication: on or off")
        ->capture_default_str();
    c->add_option("--cores", f->study.cores, "host cores (default 4)");
    auto* ghz = c->add_option("--ghz", f->study.ghz,
                              "host clock in GHz, 0.1 to 10 (default: each backend's profile)");
    c->add_option("--util", f->study.util, "CPU utilisation ceiling (default 0.8)");
    c->add_option("--jobs-per-sec", f->study.jobs_per_sec,
                  "workload completions each VM needs per second (default 20)");
    c->add_option("--quantum", f->study.quantum, "guest instructions per VM quantum");
    c->add_option("--json", f->json_path, "write the vmmu.study.density/1 document here")
        ->check(non_empty_path());
    c->callback([f, ghz, &action] {
        action = [f, ghz] {
            // 0 stands for "the profile's clock" inside: a 0 the user typed is still checked.
            if (ghz->count()) check_host_ghz(f->study.ghz);
            return run_density(*f);
        };
    });
}

} // namespace vmmu
