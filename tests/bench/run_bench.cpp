// Whole runs of `gups` and `sessions` at a small size: guest MIPS with no backend (the
// functional layer alone) and with all three backends attached, and their ratio (the issue's
// target: all three cost at most 2x, i.e. a ratio >= 0.5). Each iteration is one full run.
#include "engine/cli/run.h"

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <stdexcept>

namespace vmmu {
namespace {

RunOptions small(const std::string &workload) {
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

double mips(const RunOptions &o) {
    RunOutput out = execute_run(o);
    if (run_exit_code(out.result) != 0)
        throw std::runtime_error(o.workload + " failed: " + run_status(out.result));
    return double(out.result.guest.instructions) / out.result.wall_seconds / 1e6;
}

// Arg 0: --backends none; 1: native,shadow,slat.
void BM_Run(benchmark::State &state, const char *workload) {
    RunOptions o = small(workload);
    if (state.range(0) == 0)
        o.backends.clear();
    double total = 0;
    for (auto _ : state)
        total += mips(o);
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

// Both configurations back to back in each iteration, so one line carries the ratio.
void BM_BackendRatio(benchmark::State &state, const char *workload) {
    RunOptions all = small(workload), none = all;
    none.backends.clear();
    double sum_none = 0, sum_all = 0;
    for (auto _ : state) {
        sum_none += mips(none);
        sum_all += mips(all);
    }
    state.counters["MIPS_none"] = sum_none / double(state.iterations());
    state.counters["MIPS_all3"] = sum_all / double(state.iterations());
    state.counters["all3/none"] = sum_all / sum_none;
}
BENCHMARK_CAPTURE(BM_BackendRatio, gups, "gups")->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK_CAPTURE(BM_BackendRatio, sessions, "sessions")
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3);

} // namespace
} // namespace vmmu
