// Whole runs of `gups` and `sessions` at a small size: guest MIPS with no backend (the
// functional layer alone) and with all three backends attached, and their ratio (the
// target: all three cost at most 2x, i.e. a ratio >= 0.5). Each iteration is one full run.
// The guest instruction count is the same with and without backends (one instruction stream).
#include "engine/experiment/run.h"
#include "engine/host/p2m.h"
#include "engine/mmu/machine_env.h"
#include "engine/mmu/profile.h"
#include "engine/mmu/registry.h"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <stdexcept>

namespace vmmu {
namespace {

RunOptions small(const std::string& workload) {
    setenv("VMMU_GUEST_DIR", VMMU_GUEST_DIR, 0);
    setenv("VMMU_PROFILE_DIR", VMMU_SOURCE_DIR "/workloads/profiles", 0);
    RunOptions o;
    o.workload = workload;
    if (workload == "gups")
        o.params = {"table_mib=16", "updates=200000"};
    else if (workload == "sessions")
        o.params = {"sessions=2", "actions=2", "ws_mib=2"};
    return o;
}

RunOutput run_checked(const RunOptions& o) {
    RunOutput out = execute_run(o);
    if (run_exit_code(out.result) != 0)
        throw std::runtime_error(o.workload + " failed: " + run_status(out.result));
    return out;
}

double mips(const RunOptions& o) {
    RunOutput out = run_checked(o);
    return double(out.result.guest.instructions) / out.result.wall_seconds / 1e6;
}

// Arg 0: --backends none; 1: native,shadow,slat.
void BM_Run(benchmark::State& state, const char* workload) {
    RunOptions o = small(workload);
    if (state.range(0) == 0) o.backends.clear();
    double total = 0;
    for (auto _ : state) total += mips(o);
    state.counters["guest_MIPS"] = total / double(state.iterations());
}
BENCHMARK_CAPTURE(BM_Run, gups, "gups")
    ->ArgName("backends")
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3);
BENCHMARK_CAPTURE(BM_Run, sessions, "sessions")
    ->ArgName("backends")
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3);

// Process CPU seconds of one run: on a shared machine, wall time also counts other jobs.
double cpu_seconds(const RunOptions& o, uint64_t* instructions) {
    timespec t0{}, t1{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
    RunOutput out = run_checked(o);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
    *instructions = out.result.guest.instructions;
    return double(t1.tv_sec - t0.tv_sec) + 1e-9 * double(t1.tv_nsec - t0.tv_nsec);
}

// Both configurations back to back in each iteration, so one line carries the ratio; the ratio
// is of the best (least disturbed) CPU time of each over the iterations.
void BM_BackendRatio(benchmark::State& state, const char* workload) {
    RunOptions all = small(workload), none = all;
    none.backends.clear();
    double best_none = 1e30, best_all = 1e30;
    uint64_t instructions = 0;
    for (auto _ : state) {
        best_none = std::min(best_none, cpu_seconds(none, &instructions));
        best_all = std::min(best_all, cpu_seconds(all, &instructions));
    }
    state.counters["MIPS_none"] = double(instructions) / best_none / 1e6;
    state.counters["MIPS_all3"] = double(instructions) / best_all / 1e6;
    state.counters["all3/none"] = best_none / best_all;
}
BENCHMARK_CAPTURE(BM_BackendRatio, gups, "gups")->Unit(benchmark::kMillisecond)->Iterations(5);
BENCHMARK_CAPTURE(BM_BackendRatio, sessions, "sessions")
    ->Unit(benchmark::kMillisecond)
    ->Iterations(5);

// The cost of a time series (--interval, README.md "Windows"): gups with all three backends,
// without and with sample points every `range(0)` guest instructions, back to back in each
// iteration; the ratio is of the best CPU time of each (the target: under 5 % at 1 000 000).
void BM_IntervalCost(benchmark::State& state) {
    RunOptions plain = small("gups"), sampled = plain;
    sampled.interval = static_cast<uint64_t>(state.range(0));
    double best_plain = 1e30, best_sampled = 1e30;
    uint64_t instructions = 0;
    for (auto _ : state) {
        best_plain = std::min(best_plain, cpu_seconds(plain, &instructions));
        best_sampled = std::min(best_sampled, cpu_seconds(sampled, &instructions));
    }
    state.counters["MIPS_plain"] = double(instructions) / best_plain / 1e6;
    state.counters["MIPS_interval"] = double(instructions) / best_sampled / 1e6;
    state.counters["cost_pct"] = 100.0 * (best_sampled / best_plain - 1);
}
BENCHMARK(BM_IntervalCost)
    ->ArgName("interval")
    ->Arg(1'000'000)
    ->Arg(100'000)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(5);
// The cache hierarchy's price (engine/mmu/cache.h): gups with a 64 MiB table and 4 M updates,
// with no backend, with all three and --caches off (the flat walk price), and with all three and
// --caches on (every data access and walk reference through L1D/L2/LLC). Targets: on/none >=
// 0.33, off/none >= 0.45 (results/PERFORMANCE.md).
void BM_CachesRatio(benchmark::State& state) {
    RunOptions none = small("gups");
    none.params = {"table_mib=64", "updates=4000000"};
    none.backends.clear();
    RunOptions off = small("gups"), on = off;
    off.params = on.params = none.params;
    off.caches = false;
    on.caches = true;
    double best_none = 1e30, best_off = 1e30, best_on = 1e30;
    uint64_t instructions = 0;
    for (auto _ : state) {
        best_none = std::min(best_none, cpu_seconds(none, &instructions));
        best_off = std::min(best_off, cpu_seconds(off, &instructions));
        best_on = std::min(best_on, cpu_seconds(on, &instructions));
    }
    state.counters["MIPS_none"] = double(instructions) / best_none / 1e6;
    state.counters["MIPS_off"] = double(instructions) / best_off / 1e6;
    state.counters["MIPS_on"] = double(instructions) / best_on / 1e6;
    state.counters["off/none"] = best_none / best_off;
    state.counters["on/none"] = best_none / best_on;
}
BENCHMARK(BM_CachesRatio)->Unit(benchmark::kMillisecond)->Iterations(2);

// Several vCPUs with a backend attached: the SMP probe's "work" (20 M passes of a 5-instruction
// loop split over the CPUs, tests/guests/smp_probe.c) under native, on 1 and 4 vCPUs at the
// default quantum, and on 4 with the per-vCPU split (engine/experiment/windows.h: every backend
// snapshotted at each vCPU switch) on and off. CPU time of this process, best of 3.
double smp_native_seconds(unsigned vcpus, bool split) {
    MachineConfig c;
    c.kernel_path = VMMU_GUEST_DIR "/tests/smp_probe.elf";
    c.cmdline = "work";
    c.guest_bytes = uint64_t{64} << 20;
    c.timer_period = uint64_t{1} << 50;
    c.vcpus = vcpus;
    Machine m(c);
    Profile prof = load_profile("nehalem-2009", VMMU_SOURCE_DIR "/workloads/profiles");
    P2m p2m(HostPhys(uint64_t{4} << 30));
    BackendEnv env = backend_env_for(m, p2m, nullptr, 0);
    env.profile = &prof;
    std::unique_ptr<Backend> b = create_backend("native", env);
    m.attach(*b);
    WindowRecorder rec({b.get()}, 0, 0, split ? vcpus : 1);
    if (split) m.on_vcpu_switch([&rec](unsigned i, uint64_t at) { rec.on_vcpu_switch(i, at); });
    double t0 = double(std::clock()) / CLOCKS_PER_SEC;
    RunResult r = m.run();
    double s = double(std::clock()) / CLOCKS_PER_SEC - t0;
    if (r.stop != StopKind::Exited) throw std::runtime_error("smp probe failed: " + r.message);
    rec.finish(r.guest, r.vcpus);
    return s;
}

void BM_FourVcpusNativeSplit(benchmark::State& state) {
    for (auto _ : state) {
        double one = 1e9, plain = 1e9, split = 1e9;
        for (int i = 0; i < 3; ++i) {
            one = std::min(one, smp_native_seconds(1, false));
            plain = std::min(plain, smp_native_seconds(4, false));
            split = std::min(split, smp_native_seconds(4, true));
        }
        state.counters["one_vcpu_ms"] = one * 1e3;
        state.counters["four_ms"] = plain * 1e3;
        state.counters["four_split_ms"] = split * 1e3;
        state.counters["ratio_four_split_vs_one"] = split / one;
        state.counters["split_cost"] = split / plain;
    }
}
BENCHMARK(BM_FourVcpusNativeSplit)->Unit(benchmark::kMillisecond)->Iterations(1);

} // namespace
} // namespace vmmu
