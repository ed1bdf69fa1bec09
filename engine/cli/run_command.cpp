// `vmmu run` and `vmmu list`.
#include "engine/cli/cli_errors.h"
#include "engine/cli/commands.h"
#include "engine/experiment/interrupt.h"
#include "engine/cli/multi_command.h"
#include "engine/cli/report_outputs.h"
#include "engine/experiment/paths.h"
#include "engine/experiment/run.h"
#include "engine/output/run_report.h"
#include "engine/experiment/run_flags.h"
#include "engine/experiment/scenario.h"
#include "engine/mmu/registry.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <sstream>
#include <string>
#include <vector>

namespace vmmu {

void add_run_command(CLI::App& app, Action& action) {
    auto* c = app.add_subcommand(
        "run", "boot the guest, run one workload, measure every attached MMU scheme");
    auto flags = std::make_shared<RunFlags>();
    auto json_path = std::make_shared<std::string>();
    auto quiet = std::make_shared<bool>(false);
    flags->add(c);
    c->add_option("--json", *json_path, "write the vmmu.run/1 JSON document here")
        ->check(non_empty_path());
    c->add_flag("--quiet", *quiet, "do not echo the guest console");
    auto guest_output = std::make_shared<std::string>();
    c->add_option("--guest-output", *guest_output,
                  "write what the guest's programs printed (their stdout and stderr, without the "
                  "kernel's messages) to this file")
        ->check(non_empty_path());
    auto scenario = std::make_shared<std::string>();
    c->add_option("--scenario", *scenario,
                  "run the vmmu.scenario/1 JSON file (engine/experiment/scenario.h)");
    auto multi = std::make_shared<MultiFlags>();
    multi->add(c);
    auto exports = std::make_shared<Exports>();
    exports->add(c);
    c->callback([=, &action] {
        action = [=] {
            if (!json_path->empty()) check_output_file(*json_path, "--json");
            if (!guest_output->empty()) check_output_file(*guest_output, "--guest-output");
            exports->check();
            if (multi->wanted() && !guest_output->empty())
                throw std::invalid_argument("--guest-output takes single runs: drop --vms and "
                                            "--vms-file, or --guest-output");
            if (multi->wanted() && !exports->empty())
                throw std::invalid_argument("--export takes single runs; several VMs (--vms, "
                                            "--vms-file) are not exported: drop --export");
            if (multi->wanted()) {
                if (!multi->vms_file.empty()) check_vms_file_alone(*c);
                return multi->run(*flags, *json_path);
            }
            if (!scenario->empty()) check_scenario_alone(*c);
            RunOptions o = scenario->empty() ? flags->resolve() : load_scenario(*scenario);
            o.echo_console = !*quiet;
            // SIGINT/SIGTERM stop the guest between blocks; the JSON is still written.
            InterruptGuard interrupt;
            RunOutput out = execute_run(o);
            std::string table = run_table(out);
            fmt::print("{}", table);
            if (out.result.stop != StopKind::Exited || out.result.exit_status != 0) {
                const RunResult& r = out.result;
                bool model = r.stop == StopKind::OracleMismatch;
                fmt::print(stderr, "vmmu: {} ({}): {}\n  at RIP {:#x} {}  {}{}\n",
                           model ? "model error" : "guest error", run_status(r),
                           r.message.empty() ? fmt::format("exit status {}", r.exit_status)
                                             : r.message,
                           r.rip, r.symbol.empty() ? "" : "<" + r.symbol + ">", r.instruction,
                           o.vcpus > 1 ? fmt::format("  (vCPU {})", r.vcpu) : std::string());
                if (model)
                    fmt::print(stderr,
                               "  a backend's translation disagrees with the functional one: "
                               "a bug in that model, not in the guest\n");
                // With --quiet the console was not shown, and a guest usually says why it failed.
                if (*quiet && !r.console.empty()) {
                    std::vector<std::string> lines;
                    std::istringstream in(r.console);
                    for (std::string l; std::getline(in, l);) lines.push_back(l);
                    size_t from = lines.size() > 5 ? lines.size() - 5 : 0;
                    fmt::print(stderr, "  guest console, last lines:\n");
                    for (size_t i = from; i < lines.size(); ++i)
                        fmt::print(stderr, "    | {}\n", lines[i]);
                }
                if (!r.recent_events.empty())
                    fmt::print(stderr, "  last guest events, oldest first:\n");
                for (auto& e : r.recent_events) fmt::print(stderr, "    {}\n", e);
            }
            if (!guest_output->empty()) write_file_atomic(*guest_output, out.result.program_output);
            if (!json_path->empty()) {
                write_file_atomic(*json_path, run_json(out).dump(2) + "\n");
                fmt::print("wrote {}\n", *json_path);
            }
            if (!exports->empty()) {
                ExportRun e;
                e.doc = run_json(out);
                e.name = export_run_name(e.doc);
                exports->write({e});
            }
            if (out.result.stop == StopKind::Interrupted && interrupt.exit_code())
                return interrupt.exit_code();
            return run_exit_code(out.result);
        };
    });
}

void add_list_command(CLI::App& app, Action& action) {
    auto* c = app.add_subcommand("list", "list the workloads, their parameters and defaults, the "
                                         "backends and the CPU profiles");
    c->callback([&action] {
        action = [] {
            for (auto& w : load_workloads(guest_dir())) {
                fmt::print("{:<12} {}\n", w.name, w.description);
                for (auto& p : w.params) {
                    std::string range;
                    if (p.power_of_two)
                        range = " (a power of two)";
                    else if (p.max != UINT64_MAX)
                        range = fmt::format(" ({} to {})", p.min, p.max);
                    else if (p.min > 0)
                        range = fmt::format(" (>= {})", p.min);
                    fmt::print("    {:<14} default {:<10} {}{}{}\n", p.name, p.default_value,
                               p.description, range, p.source.empty() ? "" : " [" + p.source + "]");
                }
            }
            fmt::print("\nbackends: {}\n", fmt::join(backend_names(), ", "));
            for (auto& name : backend_names())
                for (auto& opt : backend_options(name))
                    fmt::print("    {:<8} --{}-opt {:<16} default {:<6} {}{}\n", name, name,
                               opt.key, opt.default_value, opt.meaning,
                               opt.max > 0 ? fmt::format(" ({} to {})", opt.min, opt.max) : "");
            // One line each, from the profile files themselves (--profile NAME).
            fmt::print("\nprofiles (--profile NAME, or --profile FILE.json):\n");
            for (auto& name : profile_names(profile_dir())) {
                Profile p = load_profile(name, profile_dir());
                fmt::print("    {:<14} {:.2f} GHz  {}\n", p.name, p.core_ghz, p.description);
            }
            return 0;
        };
    });
}

} // namespace vmmu
