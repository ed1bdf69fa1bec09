// `vmmu run` and `vmmu list`.
#include "engine/cli/commands.h"
#include "engine/cli/paths.h"
#include "engine/cli/run.h"
#include "engine/mmu/backend.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <sstream>

namespace vmmu {

namespace {

std::vector<std::string> split_list(const std::string& s) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ','))
        if (!item.empty()) out.push_back(item);
    return out;
}

bool on_off(const std::string& flag, const std::string& v) {
    if (v == "on") return true;
    if (v == "off") return false;
    throw std::invalid_argument(fmt::format("{} '{}': valid values are on, off", flag, v));
}

} // namespace

// Options shared by every command that runs a guest.
struct RunFlags {
    RunOptions o;
    std::string backends = "native,shadow,slat";
    std::string pwc = "on", ntlb = "on", oracle = "on";
    std::vector<std::string> backend_profiles;

    void add(CLI::App* c) {
        c->add_option("--workload", o.workload, "workload to run (see 'vmmu list')")->capture_default_str();
        c->add_option("--param", o.params, "workload parameter KEY=VALUE (repeatable)");
        c->add_option("--backends", backends, "MMU schemes to attach: comma list of native, shadow, slat, or none")
            ->capture_default_str();
        c->add_option("--profile", o.profile, "CPU profile name (workloads/profiles) or JSON file")
            ->capture_default_str();
        c->add_option("--backend-profile", backend_profiles,
                      "BACKEND=PROFILE: a different CPU for one backend (repeatable)");
        c->add_option("--guest-pages", o.guest_pages, "guest kernel's anonymous memory pages: 4k or 2m")
            ->capture_default_str();
        c->add_option("--ept-pages", o.ept_pages, "nested (EPT) mapping size: 4k, 2m or 1g")->capture_default_str();
        c->add_option("--pwc", pwc, "page-walk caches: on or off")->capture_default_str();
        c->add_option("--ntlb", ntlb, "nested TLB (slat): on or off")->capture_default_str();
        c->add_option("--oracle", oracle, "check every translation against the functional one: on or off")
            ->capture_default_str();
        c->add_option("--shadow-opt", o.shadow_opts,
                      "shadow policy KEY=VALUE: unsync, flood_threshold, prev_roots, page_budget");
        c->add_option("--guest-mib", o.guest_mib, "guest-physical memory in MiB")->capture_default_str();
        c->add_option("--timer-period", o.timer_period, "guest instructions between timer interrupts")
            ->capture_default_str();
        c->add_option("--max-instructions", o.max_instructions, "stop after this many guest instructions (0: no limit)")
            ->capture_default_str();
        c->add_option("--kernel", o.kernel, "guest kernel ELF (default: the built teaching kernel)");
        c->add_option("--program", o.programs, "extra guest program ELF for the archive (repeatable)");
    }

    RunOptions resolve() {
        o.backends = backends == "none" ? std::vector<std::string>{} : split_list(backends);
        o.pwc = on_off("--pwc", pwc);
        o.ntlb = on_off("--ntlb", ntlb);
        o.oracle = on_off("--oracle", oracle);
        for (auto& bp : backend_profiles) {
            auto eq = bp.find('=');
            if (eq == std::string::npos)
                throw std::invalid_argument(fmt::format("--backend-profile '{}': expected BACKEND=PROFILE", bp));
            o.backend_profile[bp.substr(0, eq)] = bp.substr(eq + 1);
        }
        return o;
    }
};

void add_run_command(CLI::App& app, Action& action) {
    auto* c = app.add_subcommand("run", "boot the guest, run one workload, measure every attached MMU scheme");
    auto flags = std::make_shared<RunFlags>();
    auto json_path = std::make_shared<std::string>();
    auto quiet = std::make_shared<bool>(false);
    flags->add(c);
    c->add_option("--json", *json_path, "write the vmmu.run/1 JSON document here");
    c->add_flag("--quiet", *quiet, "do not echo the guest console");
    c->callback([=, &action] {
        action = [=] {
            RunOptions o = flags->resolve();
            o.echo_console = !*quiet;
            RunOutput out = execute_run(o);
            std::string table = run_table(out);
            fmt::print("{}", table);
            if (out.result.stop != StopKind::Exited || out.result.exit_status != 0) {
                const RunResult& r = out.result;
                fmt::print(stderr, "vmmu: guest error ({}): {}\n  at RIP {:#x} {}  {}\n", run_status(r),
                           r.message.empty() ? fmt::format("exit status {}", r.exit_status) : r.message,
                           r.rip, r.symbol.empty() ? "" : "<" + r.symbol + ">", r.instruction);
            }
            if (!json_path->empty()) {
                write_file_atomic(*json_path, run_json(out).dump(2) + "\n");
                fmt::print("wrote {}\n", *json_path);
            }
            return run_exit_code(out.result);
        };
    });
}

void add_list_command(CLI::App& app, Action& action) {
    auto* c = app.add_subcommand("list", "list the workloads, their parameters and defaults");
    c->callback([&action] {
        action = [] {
            for (auto& w : load_workloads(guest_dir())) {
                fmt::print("{:<12} {}\n", w.name, w.description);
                for (auto& p : w.params)
                    fmt::print("    {:<14} default {:<10} {}{}\n", p.name, p.default_value, p.description,
                               p.source.empty() ? "" : " [" + p.source + "]");
            }
            fmt::print("\nbackends: {}\n", fmt::join(backend_names(), ", "));
            return 0;
        };
    });
}

} // namespace vmmu
