#include "engine/experiment/run.h"

#include "engine/experiment/paths.h"
#include "engine/mmu/cost.h"
#include "engine/mmu/registry.h"
#include "engine/mmu/machine_env.h"
#include "vmmu/abi.h"
#include "vmmu/syscalls.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <exception>
#include <sstream>
#include <stdexcept>

namespace vmmu {
namespace fs = std::filesystem;

namespace {

unsigned page_shift(const std::string& flag, const std::string& given, bool allow_1g) {
    std::string v = lower_page_size(given);
    if (v == "4k") return 12;
    if (v == "2m") return 21;
    if (v == "1g" && allow_1g) return 30;
    throw std::invalid_argument(fmt::format("{} '{}': valid values are 4k, 2m{} (any case)", flag,
                                            given, allow_1g ? ", 1g" : ""));
}

std::map<std::string, std::string> parse_kv(const std::vector<std::string>& items,
                                            const char* flag) {
    std::map<std::string, std::string> kv;
    for (auto& s : items) {
        auto eq = s.find('=');
        if (eq == std::string::npos || eq == 0)
            throw std::invalid_argument(fmt::format("{} '{}': expected KEY=VALUE", flag, s));
        kv[s.substr(0, eq)] = s.substr(eq + 1);
    }
    return kv;
}

} // namespace

// Under --hypervisor hyperv the slat backend stands for Hyper-V 2008 R2 on SLAT hardware
// (docs/ARCHITECTURE.md, "Hypervisor personalities"): a profile without EPT cannot host it.
void check_personality(Hypervisor h, const std::string& backend, const Profile& p) {
    // Agile paging walks the lower levels two-dimensionally: it needs EPT just as slat does.
    if (h == Hypervisor::HyperV && (backend == "slat" || backend == "agile") && !p.ept)
        throw std::invalid_argument(fmt::format(
            "--hypervisor hyperv with backend {}: profile {} has no EPT, so no Hyper-V R2 "
            "SLAT host can run on it (give {} a profile with features.ept, e.g. "
            "--backend-profile {}=nehalem-2009)",
            backend, p.name, backend, backend));
}

std::unique_ptr<PreparedRun> prepare_run(const RunOptions& o, const HostSlot* slot) {
    check_ept_levels(o);
    check_guest_levels(o);
    check_dedup_options(o);
    auto prepared = std::make_unique<PreparedRun>();
    RunOutput& out = prepared->out;
    out.options = o;
    fs::path gdir = guest_dir();
    std::vector<std::string> order;
    if (!o.run_programs) {
        auto catalogue = load_workloads(gdir);
        out.workload = find_workload(catalogue, o.workload);
        out.params = resolve_params(out.workload, o.params);
        for (auto& p : out.workload.params) order.push_back(p.name);
    }

    // Checked in MiB, before the shift to bytes can wrap around.
    if (o.guest_mib < 64 || o.guest_mib > 65536 || o.guest_mib % 2 != 0)
        throw std::invalid_argument(fmt::format(
            "--guest-mib {}: use an even number from 64 to 65536 (64 GiB); the boot direct map "
            "uses 2 MiB pages",
            o.guest_mib));
    MachineConfig mc;
    mc.guest_bytes = o.guest_mib << 20;
    mc.timer_period = o.timer_period;
    mc.max_instructions = o.max_instructions;
    check_vcpu_options(o);
    mc.vcpus = o.vcpus;
    mc.vcpu_quantum = o.vcpu_quantum;
    mc.kernel_path = o.kernel.empty() ? (gdir / "kernel.elf").string() : o.kernel;
    for (auto& e : fs::directory_iterator(gdir / "programs"))
        if (e.path().extension() == ".elf") mc.program_paths.push_back(e.path().string());
    std::sort(mc.program_paths.begin(), mc.program_paths.end());
    std::vector<std::string> builtin;
    for (auto& p : mc.program_paths) builtin.push_back(fs::path(p).stem().string());
    for (auto& p : o.programs) mc.program_paths.push_back(p);
    if (o.run_programs) {
        std::vector<std::string> names;
        for (auto& p : o.programs) names.push_back(fs::path(p).stem().string());
        out.workload.name = fmt::format("{}", fmt::join(names, "+"));
        out.workload.description = fmt::format("your program{}: {}", names.size() > 1 ? "s" : "",
                                               fmt::join(o.programs, ", "));
    }
    out.provenance = tool_provenance();
    out.provenance.profile_sets = o.profile_sets;
    // A missing image is the machine's to report (exit 2 naming it), below.
    if (fs::is_regular_file(mc.kernel_path))
        out.provenance.inputs["kernel"] = file_sha256(mc.kernel_path);
    for (auto& p : mc.program_paths)
        if (fs::is_regular_file(p))
            out.provenance.inputs["program/" + fs::path(p).filename().string()] = file_sha256(p);
    mc.cmdline = o.run_programs ? programs_cmdline(o, builtin)
                                : workload_cmdline(out.workload.name, out.params, order);
    out.cmdline = mc.cmdline;
    mc.echo_console = o.echo_console;
    mc.coalesce_blocks = o.coalesce_blocks && !o.exit_trace; // an exit at its own instruction
    mc.guest_levels = static_cast<int>(o.guest_levels);
    if (page_shift("--guest-pages", o.guest_pages, false) == 21)
        mc.boot_flags |= VMMU_BOOT_FLAG_GUEST_2M;
    if (o.timer_period == 0) throw std::invalid_argument("--timer-period must be at least 1");
    check_window_options(o);
    mc.sample_period = o.interval;
    mc.sample_at = o.warmup;
    mc.hypervisor = checked_hypervisor(o);
    if (slot) {
        prepared->host = slot->frames;
        prepared->vm = slot->vm;
        mc.on_shared_write = slot->on_shared_write;
    } else {
        prepared->host = std::make_shared<HostFrames>(host_layout({mc.guest_bytes}));
    }
    prepared->p2m = std::make_unique<P2m>(
        HostPhys(prepared->host->range(static_cast<size_t>(prepared->vm)).base));

    // Profiles outlive the backends that point at them.
    std::deque<Profile>& profiles = prepared->profiles;
    fs::path pdir = profile_dir();
    prepared->machine = std::make_unique<Machine>(mc);
    Machine& machine = *prepared->machine;
    auto known = backend_names();
    auto shadow_opts = parse_kv(o.shadow_opts, "--shadow-opt");
    for (auto& name : o.backends) {
        if (std::find(known.begin(), known.end(), name) == known.end())
            throw std::invalid_argument(fmt::format("unknown backend '{}' (valid: {}, or none)",
                                                    name, fmt::join(known, ", ")));
        auto it = o.backend_profile.find(name);
        const std::string& pname = it != o.backend_profile.end() ? it->second : o.profile;
        profiles.push_back(load_profile(pname, pdir, o.profile_sets));
        out.provenance.inputs["profile/" + profiles.back().name] =
            file_sha256(profile_file(pname, pdir));
        BackendEnv env =
            backend_env_for(machine, *prepared->p2m, prepared->host.get(), prepared->vm);
        env.profile = &profiles.back();
        env.pwc = o.pwc;
        env.ntlb = o.ntlb;
        env.oracle = o.oracle;
        env.caches = o.caches;
        env.price_data = o.price_data;
        env.dedup = o.dedup;
        env.ept_page_shift = page_shift("--ept-pages", o.ept_pages, true);
        env.hypervisor = mc.hypervisor;
        check_personality(mc.hypervisor, name, profiles.back());
        env.ept_levels = o.ept_levels;
        if (name == "shadow") env.options = shadow_opts;
        if (auto so = o.scheme_opts.find(name); so != o.scheme_opts.end())
            env.options = parse_kv(so->second, fmt::format("--{}-opt", name).c_str());
        // Exits raised on a data access or a fetch come without a RIP: the vCPU knows it.
        if (o.exit_trace)
            env.exit_trace = [trace = o.exit_trace, name, &machine](ExitRecord r) {
                if (r.rip == 0) r.rip = machine.current_rip();
                r.instructions = machine.current_instructions();
                trace(name, r);
            };
        prepared->backends.push_back(create_backend(name, env));
        machine.attach(*prepared->backends.back());
        out.backends.push_back({name, profiles.back().name, {}, {}, profiles.back().core_ghz});
    }
    std::vector<const Backend*> observed;
    for (auto& b : prepared->backends) observed.push_back(b.get());
    prepared->recorder = std::make_unique<WindowRecorder>(observed, o.warmup, o.interval, o.vcpus);
    // Several vCPUs: every counter split by the vCPU whose turn it was (windows.h).
    if (o.vcpus > 1)
        machine.on_vcpu_switch([r = prepared->recorder.get()](unsigned next, uint64_t at) {
            r->on_vcpu_switch(next, at);
        });
    machine.on_boundary(
        [r = prepared->recorder.get(), trace = o.boundary_trace](const Boundary& b) {
            r->on_boundary(b);
            if (trace) trace(b);
        });
    return prepared;
}

void check_run_options(const RunOptions& o) {
    // The machine is booted far enough for every backend to parse its options, then dropped.
    prepare_run(o);
}

FrameTracker& track_frames(PreparedRun& p, Deduplicator* dedup) {
    auto tracker = std::make_unique<FrameTracker>(p.machine->memory().size());
    FrameTracker& seen = *tracker;
    p.machine->attach(seen);
    p.observers.push_back(std::move(tracker));
    if (dedup) {
        std::vector<HostObserver*> backends;
        for (auto& b : p.backends) backends.push_back(b.get());
        dedup->add_vm(p.machine->memory(), *p.p2m, backends,
                      [&seen](uint64_t gfn) { return seen.touched(gfn); });
    }
    return seen;
}

std::vector<BackendResult> RunOutput::window_backends(const Window& w) const {
    std::vector<BackendResult> r = backends;
    for (size_t i = 0; i < r.size() && i < w.counters.backends.size(); ++i) {
        r[i].counters = w.counters.backends[i];
        r[i].cycles = w.counters.cycles[i];
    }
    return r;
}

std::vector<BackendResult> RunOutput::measured_backends() const {
    return window_backends(measured());
}

// The run stopped: its windows, and which one --measure selects. Warm-up longer than the run
// leaves nothing to measure: bad input (the flag), not a guest error.
void collect_windows(PreparedRun& p) {
    RunOutput& out = p.out;
    out.windows = p.recorder->finish(out.result.guest, out.result.vcpus);
    if (!out.windows.windows.contains(kWindowWhole)) {
        if (out.result.stop == StopKind::Exited && out.result.exit_status == 0)
            throw std::invalid_argument(fmt::format(
                "--warmup {}: the run has only {} guest instructions; use a warm-up shorter "
                "than the run",
                out.windows.warmup, out.result.guest.instructions));
        // A run stopped early (a guest error, a budget) before warm-up ended: an empty window.
        Window empty;
        empty.first = empty.last = out.result.guest.instructions;
        empty.counters.backends.resize(out.backends.size());
        empty.counters.cycles.resize(out.backends.size());
        if (out.options.vcpus > 1) {
            SpanCounters none;
            none.backends.resize(out.backends.size());
            none.cycles.resize(out.backends.size());
            empty.counters.vcpus.assign(out.options.vcpus, none);
        }
        out.windows.windows[kWindowWhole] = empty;
    }
    out.measured_window = out.options.measure == "roi" && out.windows.regions()
                              ? std::string(kWindowRoi)
                              : std::string(kWindowWhole);
}

void collect_backends(PreparedRun& p, const Deduplicator* dedup, size_t vm) {
    for (size_t i = 0; i < p.out.backends.size(); ++i) {
        auto& b = p.backends[i];
        BackendResult& r = p.out.backends[i];
        r.counters = b->counters();
        if (dedup && b->runs_under_hypervisor()) {
            // The scanner runs in the host beside the hypervisor: its work on this VM's
            // frames is part of what the scheme costs.
            const DedupCounters& c = dedup->vm_counters(vm);
            r.counters.details["dedup_pages_scanned"] = c.pages_scanned;
            r.counters.details[std::string(kDetailDedupCycles)] = static_cast<uint64_t>(c.cycles());
        }
        r.cycles = dedup
                       ? compute_cycles(r.counters, p.profiles[i], p.out.result.guest.instructions)
                       : b->cycles(p.out.result.guest.instructions);
    }
    if (dedup)
        p.out.dedup = DedupResult{dedup->config(), dedup->counters(), dedup->vm_counters(vm)};
    collect_windows(p);
}

namespace {

// Runs until the moment RunOptions names, inspects the run there and stops; inspects at the end
// if the guest finishes first.
RunOutput inspect_at_moment(const RunOptions& o) {
    auto p = prepare_run(o);
    PreparedRun* run = p.get();
    bool done = false;
    std::exception_ptr failed; // thrown inside the guest's run: rethrown once it returned
    if (o.inspect_at_region)
        p->machine->on_boundary([&o, &done, &failed, run](const Boundary& b) {
            run->recorder->on_boundary(b);
            if (o.boundary_trace) o.boundary_trace(b);
            if (done || b.kind != Boundary::Kind::RegionBegin) return;
            run->inspected_at = fmt::format("the begin marker of region '{}', instruction {}",
                                            b.region, b.guest.instructions);
            try {
                o.inspect(*run);
            } catch (...) {
                failed = std::current_exception();
            }
            done = true;
        });
    uint64_t target = o.inspect_at_instruction ? o.inspect_at_instruction : UINT64_MAX;
    // Slices short enough to stop soon after a region begins.
    constexpr uint64_t kSlice = uint64_t{1} << 20;
    for (;;) {
        uint64_t now = p->out.result.guest.instructions;
        uint64_t step = target - now;
        if (o.inspect_at_region) step = std::min(step, kSlice);
        p->out.result = p->machine->run_for(step);
        if (failed) std::rethrow_exception(failed);
        if (done || p->out.result.stop != StopKind::Quantum) break;
        if (p->out.result.guest.instructions >= target) {
            p->inspected_at =
                fmt::format("instruction {} (asked: {})", p->out.result.guest.instructions, target);
            o.inspect(*p);
            done = true;
            break;
        }
    }
    if (!done) {
        collect_backends(*p);
        o.inspect(*p);
    }
    return std::move(p->out);
}

} // namespace

RunOutput execute_run(const RunOptions& o) {
    if (!o.dedup && o.inspect && (o.inspect_at_region || o.inspect_at_instruction))
        return inspect_at_moment(o);
    if (!o.dedup) {
        auto p = prepare_run(o);
        p->out.result = p->machine->run();
        collect_backends(*p);
        if (o.inspect) o.inspect(*p);
        return std::move(p->out);
    }
    // One VM on a deduplicating host: the guest runs in slices of the scanner's period.
    check_dedup_options(o);
    auto frames = std::make_shared<HostFrames>(host_layout({o.guest_mib << 20}));
    Deduplicator dedup(*frames, {o.dedup_period, o.dedup_pages});
    HostSlot slot{frames, 0, [&dedup](GuestPhys pa) { dedup.break_on_write(0, pa); }};
    auto p = prepare_run(o, &slot);
    track_frames(*p, &dedup);
    double wall = 0;
    for (;;) {
        uint64_t before = p->out.result.guest.instructions;
        RunResult r = p->machine->run_for(o.dedup_period);
        wall += r.wall_seconds;
        uint64_t ran = r.guest.instructions - before;
        p->out.result = std::move(r);
        if (p->out.result.stop != StopKind::Quantum) break;
        dedup.advance(ran);
    }
    p->out.result.wall_seconds = wall;
    collect_backends(*p, &dedup, 0);
    if (o.inspect) o.inspect(*p);
    return std::move(p->out);
}

std::string programs_cmdline(const RunOptions& o, const std::vector<std::string>& builtin) {
    if (o.programs.empty())
        throw std::invalid_argument("no program to run: give --program prog.elf (built with "
                                    "`vmmu cc`)");
    if (o.program_args.size() > o.programs.size())
        throw std::invalid_argument(fmt::format(
            "--args is given {} times for {} program{}: give one --args per --program, in the "
            "same order",
            o.program_args.size(), o.programs.size(), o.programs.size() == 1 ? "" : "s"));
    if (!o.params.empty() && o.programs.size() > 1)
        throw std::invalid_argument("--param with several --program: say which program each "
                                    "argument is for with one --args per program");
    std::vector<std::string> seen;
    std::string line;
    for (size_t i = 0; i < o.programs.size(); ++i) {
        std::string name = fs::path(o.programs[i]).stem().string();
        if (std::find(builtin.begin(), builtin.end(), name) != builtin.end())
            throw std::invalid_argument(fmt::format(
                "--program {}: the name '{}' is a built-in program's; rename the file (the "
                "guest runs programs by file name without .elf)",
                o.programs[i], name));
        if (std::find(seen.begin(), seen.end(), name) != seen.end())
            throw std::invalid_argument(fmt::format(
                "--program {}: another --program is also named '{}'; to run one program twice, "
                "copy it under another name",
                o.programs[i], name));
        if (name.empty() || name.size() >= VMMU_ARCHIVE_NAME_MAX ||
            name.find_first_of(" \t;&") != std::string::npos)
            throw std::invalid_argument(fmt::format(
                "--program {}: the guest names a program by its file name without .elf, which "
                "must be 1 to {} characters without spaces, ';' or '&'",
                o.programs[i], VMMU_ARCHIVE_NAME_MAX - 1));
        seen.push_back(name);
        std::vector<std::string> words{name};
        std::istringstream in(i < o.program_args.size() ? o.program_args[i] : "");
        for (std::string w; in >> w;) words.push_back(w);
        if (o.programs.size() == 1)
            for (auto& p : o.params) words.push_back(p);
        for (auto& w : words)
            if (w == ";" || w == "&")
                throw std::invalid_argument(fmt::format(
                    "--args for {}: '{}' alone separates programs on the guest's command line; "
                    "it cannot be an argument",
                    o.programs[i], w));
        if (words.size() >= VMMU_ARGV_MAX)
            throw std::invalid_argument(
                fmt::format("--args for {}: {} arguments; the guest passes at most {}",
                            o.programs[i], words.size() - 1, VMMU_ARGV_MAX - 2));
        if (!line.empty()) line += " & ";
        line += fmt::format("{}", fmt::join(words, " "));
    }
    if (line.size() >= VMMU_CMDLINE_MAX)
        throw std::invalid_argument(fmt::format(
            "the programs' command line is {} characters: the guest takes at most {}; use fewer "
            "or shorter arguments",
            line.size(), VMMU_CMDLINE_MAX - 1));
    return line;
}

int run_exit_code(const RunResult& r) {
    switch (r.stop) {
    case StopKind::Exited:
        return r.exit_status == 0 ? 0 : 3;
    case StopKind::OracleMismatch:
        return 4;
    case StopKind::Interrupted:
        return 130; // 128 + SIGINT, as a shell reports it
    default:
        return 3;
    }
}

std::string run_status(const RunResult& r) {
    switch (r.stop) {
    case StopKind::Exited:
        return r.exit_status == 0 ? "ok" : "guest_error";
    case StopKind::Budget:
    case StopKind::Quantum:
    case StopKind::Interrupted:
        return "incomplete";
    case StopKind::OracleMismatch:
        return "oracle_mismatch";
    default:
        return "guest_error";
    }
}

} // namespace vmmu
