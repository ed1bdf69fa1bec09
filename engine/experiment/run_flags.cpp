#include "engine/experiment/run_flags.h"

#include "engine/core/hypervisor.h"
#include "engine/mmu/registry.h"
#include "vmmu/abi.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <sstream>
#include <stdexcept>

namespace vmmu {

std::string lower_page_size(std::string size) {
    for (char& c : size) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return size;
}

void check_dedup_options(const RunOptions& o) {
    if (!o.dedup) return;
    if (o.dedup_period == 0)
        throw std::invalid_argument(fmt::format(
            "--dedup-period 0: give at least 1 guest instruction between scanner passes "
            "(default {}, KSM's sleep_millisecs)",
            kDefaultDedupPeriod));
    if (o.dedup_pages == 0)
        throw std::invalid_argument(
            fmt::format("--dedup-pages 0: give at least 1 page per scanner pass (default {}, KSM's "
                        "pages_to_scan)",
                        kDefaultDedupPages));
    if (lower_page_size(o.ept_pages) != "4k")
        throw std::invalid_argument(fmt::format(
            "--dedup with --ept-pages {}: deduplication merges 4 KiB frames (KSM splits huge "
            "pages first), so it needs --ept-pages 4k",
            o.ept_pages));
}

// Option checks shared with prepare_run (engine/experiment/run.cpp); they live here so that
// the scenario parser's fuzz target links without the whole run.
Hypervisor checked_hypervisor(const RunOptions& o) {
    auto h = parse_hypervisor(o.hypervisor);
    if (!h)
        throw std::invalid_argument(
            fmt::format("--hypervisor '{}': valid values are none, kvm, hyperv", o.hypervisor));
    return *h;
}

void check_window_options(const RunOptions& o) {
    if (o.measure != "roi" && o.measure != "whole")
        throw std::invalid_argument(fmt::format(
            "--measure '{}': valid values are roi (the workload's regions of interest, the whole "
            "run when it marks none) and whole",
            o.measure));
}

void check_vcpu_options(const RunOptions& o) {
    if (o.vcpus < 1 || o.vcpus > VMMU_MAX_CPUS)
        throw std::invalid_argument(
            fmt::format("--vcpus {}: give 1 to {} vCPUs per VM", o.vcpus, VMMU_MAX_CPUS));
    if (o.vcpu_quantum == 0)
        throw std::invalid_argument(
            fmt::format("--vcpu-quantum 0: give at least 1 guest instruction per turn (default "
                        "{})",
                        kDefaultVcpuQuantum));
}

void check_ept_levels(const RunOptions& o) {
    if (o.ept_levels != 4 && o.ept_levels != 5)
        throw std::invalid_argument(fmt::format(
            "--ept-levels {}: valid values are 4 and 5 (the EPT page-walk lengths Intel defines, "
            "SDM vol. 3, 29.3.2)",
            o.ept_levels));
}

void check_guest_levels(const RunOptions& o) {
    if (o.guest_levels != 4 && o.guest_levels != 5)
        throw std::invalid_argument(fmt::format(
            "--guest-levels {}: valid values are 4 and 5 (four-level paging, or five-level "
            "paging with CR4.LA57, SDM vol. 3, 4.5)",
            o.guest_levels));
}

void check_scheme_opts_attached(const RunOptions& o) {
    auto attached = [&](const std::string& name) {
        return std::find(o.backends.begin(), o.backends.end(), name) != o.backends.end();
    };
    auto refuse = [&](const std::string& name) {
        throw std::invalid_argument(fmt::format(
            "--{}-opt given, but backend {} is not attached, so the option would be ignored: add "
            "{} to --backends or drop the option",
            name, name, name));
    };
    if (!o.shadow_opts.empty() && !attached("shadow")) refuse("shadow");
    for (auto& [name, opts] : o.scheme_opts)
        if (!opts.empty() && !attached(name)) refuse(name);
}

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

void RunFlags::add(CLI::App* c) {
    workload_flag =
        c->add_option("--workload", o.workload,
                      "workload to run (see 'vmmu list'); without it, --program runs your program")
            ->capture_default_str();
    c->add_option("--param", o.params,
                  "workload parameter KEY=VALUE (repeatable); with --program, an argument of the "
                  "program");
    c->add_option("--backends", backends,
                  fmt::format("MMU schemes to attach: comma list of {}, or none",
                              fmt::join(backend_names(), ", ")))
        ->capture_default_str();
    c->add_option("--profile", o.profile, "CPU profile name (workloads/profiles) or JSON file")
        ->capture_default_str();
    c->add_option("--backend-profile", backend_profiles,
                  "BACKEND=PROFILE: a different CPU for one backend (repeatable)");
    c->add_option("--set", o.profile_sets,
                  "KEY=VALUE: override one constant of every backend's CPU profile, checked by "
                  "the profile's own rules (tlb.stlb.entries=1024, "
                  "vm_exit.round_trip.value=1200; repeatable)");
    c->add_option("--guest-pages", o.guest_pages,
                  "guest kernel's anonymous memory pages: 4k or 2m (only working sets of 2 MiB and "
                  "more fill a 2 MiB page: the scaling study's 1 MiB ones barely change)")
        ->capture_default_str();
    c->add_option("--ept-pages", o.ept_pages, "nested (EPT) mapping size: 4k, 2m or 1g")
        ->capture_default_str();
    c->add_option("--ept-levels", o.ept_levels,
                  "nested (EPT) page-walk length: 4, or 5 (5-level EPT; a cold 2D walk of the "
                  "4-level guest makes 29 references instead of 24)")
        ->capture_default_str();
    c->add_option("--guest-levels", o.guest_levels,
                  "the guest's paging levels: 4, or 5 (CR4.LA57: a PML5 root, the stack and mmap "
                  "above 2^48; a cold 2D walk makes 35 references under 5-level EPT, 29 under "
                  "4-level)")
        ->capture_default_str();
    c->add_option("--pwc", pwc, "page-walk caches: on or off")->capture_default_str();
    c->add_option("--ntlb", ntlb, "nested TLB (slat): on or off")->capture_default_str();
    c->add_option("--caches", caches,
                  "walk references through the profile's L1D/L2/LLC/memory (on) or at its flat "
                  "latency.walk_ref (off): on or off")
        ->capture_default_str();
    c->add_option("--price-data", price_data,
                  "with --caches on, also price data accesses beyond L1D (off keeps them inside "
                  "base CPI, so totals stay comparable): on or off")
        ->capture_default_str();
    c->add_option("--oracle", oracle,
                  "check every translation against the functional one: on or off")
        ->capture_default_str();
    c->add_option("--shadow-opt", o.shadow_opts,
                  "shadow policy KEY=VALUE: unsync, flood_threshold, prev_roots, page_budget");
    c->add_option("--hypervisor", o.hypervisor,
                  "hypervisor personality CPUID shows the guest: none, kvm or hyperv (hyperv: "
                  "the kernel switches and flushes by hypercall, as Hyper-V recommends)")
        ->capture_default_str();
    // Every other scheme that registers options gets --NAME-opt, so adding one lists nothing here.
    for (auto& name : backend_names()) {
        auto opts = backend_options(name);
        if (name == "shadow" || opts.empty()) continue;
        std::vector<std::string> keys;
        for (auto& k : opts) keys.push_back(k.key);
        c->add_option(fmt::format("--{}-opt", name), o.scheme_opts[name],
                      fmt::format("{} policy KEY=VALUE: {}", name, fmt::join(keys, ", ")));
    }
    c->add_option("--guest-mib", o.guest_mib, "guest-physical memory in MiB")
        ->capture_default_str();
    c->add_option("--timer-period", o.timer_period, "guest instructions between timer interrupts")
        ->capture_default_str();
    c->add_option("--max-instructions", o.max_instructions,
                  "stop after this many guest instructions (0: no limit)")
        ->capture_default_str();
    c->add_option("--vcpus", o.vcpus,
                  "vCPUs of the VM, 1 to 8 (the kernel starts the others; a kernel that does not "
                  "leaves them unstarted)")
        ->capture_default_str();
    c->add_option("--vcpu-quantum", o.vcpu_quantum,
                  "guest instructions each vCPU runs per round-robin turn (smaller: finer "
                  "interleaving, more host time switching)")
        ->capture_default_str();
    // Windows (README.md, "Windows"): warm-up, the time series, the measured window.
    c->add_option("--warmup", o.warmup,
                  "guest instructions of warm-up: every window starts after them (the models keep "
                  "warming: TLBs, walk caches, shadow and EPT tables)")
        ->capture_default_str();
    c->add_option("--interval", o.interval,
                  "a time series: every N guest instructions, each backend's counters (JSON "
                  "intervals)")
        ->check(CLI::Validator(
            [](std::string& v) -> std::string {
                return v == "0" ? "0 is no interval: give at least 1 guest instruction (omit "
                                  "the flag for no time series)"
                                : "";
            },
            "N>=1"));
    c->add_option("--measure", o.measure,
                  "what the table, compare, baselines and studies use: roi (the workload's "
                  "regions of interest; the whole run if it marks none) or whole")
        ->capture_default_str();
    c->add_option("--kernel", o.kernel, "guest kernel ELF (default: the built teaching kernel)");
    c->add_option("--program", o.programs,
                  "your program, built with `vmmu cc` (repeatable: several run side by side); "
                  "beside a built-in workload it is only put in the guest's archive");
    c->add_option("--args", o.program_args,
                  "\"ARG ...\": the arguments of the program given by the same-numbered "
                  "--program (words split at spaces; repeatable)");
    c->add_flag("--dedup", o.dedup,
                "host memory deduplication: a KSM-like scanner merges identical guest frames");
    c->add_option("--dedup-period", o.dedup_period,
                  "guest instructions between two scanner passes (KSM sleep_millisecs)")
        ->capture_default_str();
    c->add_option("--dedup-pages", o.dedup_pages,
                  "guest frames the scanner visits per pass (KSM pages_to_scan)")
        ->capture_default_str();
}

RunOptions RunFlags::resolve() {
    o.run_programs = !o.programs.empty() && workload_flag && workload_flag->count() == 0;
    if (!o.run_programs && !o.program_args.empty())
        throw std::invalid_argument(
            o.programs.empty() ? "--args gives a program's arguments: add --program prog.elf"
                               : "--args with --workload: the workload takes --param KEY=VALUE; "
                                 "drop --workload to run your --program with its --args");
    o.guest_pages = lower_page_size(o.guest_pages);
    o.ept_pages = lower_page_size(o.ept_pages);
    check_ept_levels(o);
    check_guest_levels(o);
    check_vcpu_options(o);
    check_dedup_options(o);
    check_window_options(o);
    checked_hypervisor(o);
    o.backends = backends == "none" ? std::vector<std::string>{} : split_list(backends);
    check_scheme_opts_attached(o);
    o.pwc = on_off("--pwc", pwc);
    o.ntlb = on_off("--ntlb", ntlb);
    o.oracle = on_off("--oracle", oracle);
    o.caches = on_off("--caches", caches);
    o.price_data = on_off("--price-data", price_data);
    if (o.price_data && !o.caches)
        throw std::invalid_argument("--price-data on needs --caches on (data latency comes from "
                                    "the cache hierarchy)");
    for (auto& bp : backend_profiles) {
        auto eq = bp.find('=');
        if (eq == std::string::npos)
            throw std::invalid_argument(
                fmt::format("--backend-profile '{}': expected BACKEND=PROFILE", bp));
        o.backend_profile[bp.substr(0, eq)] = bp.substr(eq + 1);
    }
    return o;
}

RunOptions parse_run_args(const std::vector<std::string>& args) {
    CLI::App app{"run"};
    RunFlags flags;
    flags.add(&app);
    // CLI11 consumes a vector from its back.
    std::vector<std::string> reversed(args.rbegin(), args.rend());
    try {
        app.parse(reversed);
    } catch (const CLI::ParseError& e) {
        throw std::invalid_argument(
            fmt::format("run flags '{}': {}", fmt::join(args, " "), e.what()));
    }
    return flags.resolve();
}

} // namespace vmmu
