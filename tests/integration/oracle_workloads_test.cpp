// The oracle on every workload: all programs at a small size in one guest run, with native,
// shadow and slat attached and every translation checked against the guest's own tables, once
// per shadow policy setting (issue 4: "the oracle holds on every workload at small size, with
// each shadow option on and off").
#include "engine/core/machine.h"
#include "engine/mmu/profile.h"
#include "vmmu/abi.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <filesystem>

namespace vmmu {
namespace {
namespace fs = std::filesystem;

const char* kEveryWorkload =
    "hello ; forkwait n=20 ; ctxswitch rounds=200 procs=2 ; gups table_mib=2 updates=20000 ; "
    "stream array_mib=1 iterations=1 ; mmapchurn rounds=20 region_kib=64 ; "
    "sessions sessions=2 actions=1 ws_mib=1 think_ticks=1 bursts=1 burst_updates=500";

RunResult run_all(const std::map<std::string, std::string>& shadow_opts, uint64_t flags = 0) {
    MachineConfig c;
    c.kernel_path = VMMU_GUEST_DIR "/kernel.elf";
    for (auto& e : fs::directory_iterator(VMMU_GUEST_DIR "/programs"))
        if (e.path().extension() == ".elf") c.program_paths.push_back(e.path().string());
    std::sort(c.program_paths.begin(), c.program_paths.end());
    c.cmdline = kEveryWorkload;
    c.guest_bytes = uint64_t{256} << 20;
    c.boot_flags = flags;
    static const Profile profile =
        load_profile("nehalem-2009", find_profile_dir(fs::path(VMMU_SOURCE_DIR)));
    Machine m(c);
    for (const char* name : {"native", "shadow", "slat"}) {
        BackendEnv env = m.backend_env();
        env.profile = &profile;
        env.oracle = true;
        if (std::string(name) == "shadow") env.options = shadow_opts;
        m.attach(create_backend(name, env));
    }
    return m.run();
}

void expect_clean(const RunResult& r) {
    EXPECT_EQ(r.stop, StopKind::Exited) << r.message << " at " << r.symbol;
    EXPECT_EQ(r.exit_status, 0) << r.console;
}

TEST(OracleOnEveryWorkload, DefaultShadowPolicies) { expect_clean(run_all({})); }
TEST(OracleOnEveryWorkload, ShadowWithoutUnsync) { expect_clean(run_all({{"unsync", "0"}})); }
TEST(OracleOnEveryWorkload, ShadowWithoutFloodDetectionOrRootCache) {
    expect_clean(run_all({{"flood_threshold", "0"}, {"prev_roots", "0"}}));
}
TEST(OracleOnEveryWorkload, ShadowUnderATightPageBudget) {
    expect_clean(run_all({{"page_budget", "64"}}));
}
TEST(OracleOnEveryWorkload, TwoMegabyteGuestPages) { expect_clean(run_all({}, VMMU_BOOT_FLAG_GUEST_2M)); }

} // namespace
} // namespace vmmu
