// The agile scheme on the real guest: every workload at a small size in one run, the oracle
// checking every translation, once per policy setting (switching at once and moving back every
// tick, the defaults, never switching), with 2 MiB guest pages and under 5-level, 2 MiB EPT; and
// the same counters whether loops arrive as repeats or event by event.
#include "engine/core/machine.h"
#include "tests/integration/kernel_config.h"
#include "engine/host/host_frames.h"
#include "engine/host/p2m.h"
#include "engine/mmu/machine_env.h"
#include "engine/mmu/profile.h"
#include "engine/mmu/registry.h"
#include "engine/output/report_json.h"
#include "vmmu/abi.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

namespace vmmu {
namespace {
namespace fs = std::filesystem;

const char* kEveryWorkload =
    "hello ; forkwait n=20 ; ctxswitch rounds=200 procs=2 ; gups table_mib=2 updates=20000 ; "
    "stream array_mib=1 iterations=1 ; mmapchurn rounds=20 region_kib=64 ; "
    "sessions sessions=2 actions=1 ws_mib=1 think_ticks=1 bursts=1 burst_updates=500";

struct AgileRun {
    RunResult result;
    nlohmann::ordered_json counters;
};

AgileRun run_agile(const std::map<std::string, std::string>& options, uint64_t flags = 0,
                   unsigned ept_shift = 12, unsigned ept_levels = 4, bool coalesce = true) {
    MachineConfig c = testing::kernel_config(kEveryWorkload);
    c.guest_bytes = uint64_t{256} << 20;
    c.boot_flags = flags;
    c.coalesce_blocks = coalesce;
    // A short timer period, so that the policy's periodic check runs many times.
    c.timer_period = 100'000;
    const Profile profile =
        load_profile("nehalem-2009", find_profile_dir(fs::path(VMMU_SOURCE_DIR)));
    Machine m(c);
    HostFrames host(host_layout({c.guest_bytes}));
    P2m p2m(HostPhys(host.range(0).base));
    BackendEnv env = backend_env_for(m, p2m, &host, 0);
    env.profile = &profile;
    env.oracle = true;
    env.caches = true; // its cache hierarchy sees every access, a loop's repeats included
    env.ept_page_shift = ept_shift;
    env.ept_levels = ept_levels;
    env.options = options;
    auto b = create_backend("agile", env);
    m.attach(*b);
    AgileRun r;
    r.result = m.run();
    r.counters = backend_json(b->counters(), b->cycles(r.result.guest.instructions));
    return r;
}

uint64_t detail(const AgileRun& r, const char* name) {
    return r.counters["details"].value(name, uint64_t{0});
}

void expect_clean(const AgileRun& r) {
    EXPECT_EQ(r.result.stop, StopKind::Exited) << r.result.message << " at " << r.result.symbol;
    EXPECT_EQ(r.result.exit_status, 0) << r.result.console;
}

} // namespace

TEST(AgileOracleOnEveryWorkload, DefaultPolicy) {
    AgileRun r = run_agile({});
    expect_clean(r);
    EXPECT_GT(detail(r, "to_nested"), 0u); // the guest rewrites some tables often
    EXPECT_GT(detail(r, "walks_shadow_only"), 0u);
    EXPECT_GT(detail(r, "walks_switched"), 0u);
}

TEST(AgileOracleOnEveryWorkload, SwitchingOnTheFirstWriteAndMovingBackEveryTick) {
    AgileRun r = run_agile({{"nested_threshold", "1"}, {"revert_ticks", "1"}});
    expect_clean(r);
    EXPECT_GT(detail(r, "to_nested"), 0u);
    EXPECT_GT(detail(r, "to_shadow"), 0u);
}

TEST(AgileOracleOnEveryWorkload, NeverSwitching) {
    AgileRun r = run_agile({{"nested_threshold", "1000000"}, {"revert_ticks", "0"}});
    expect_clean(r);
    EXPECT_EQ(detail(r, "to_nested"), 0u);
    EXPECT_EQ(detail(r, "walks_switched"), 0u);
}

TEST(AgileOracleOnEveryWorkload, TwoMegabyteGuestPages) {
    expect_clean(run_agile({}, VMMU_BOOT_FLAG_GUEST_2M));
}

TEST(AgileOracleOnEveryWorkload, FiveLevelTwoMegabyteEpt) {
    expect_clean(run_agile({{"nested_threshold", "1"}}, 0, 21, 5));
}

TEST(AgileLoopRepeats, CountExactlyAsEveryEventDoes) {
    AgileRun coalesced = run_agile({}, 0, 12, 4, true);
    AgileRun one_by_one = run_agile({}, 0, 12, 4, false);
    expect_clean(coalesced);
    EXPECT_EQ(coalesced.counters.dump(), one_by_one.counters.dump());
}

} // namespace vmmu
