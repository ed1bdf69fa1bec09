// A five-level (CR4.LA57) guest end to end: every workload at a small size in one run, with every
// scheme attached and the oracle checking every translation, under 4- and 5-level EPT; the
// guest's reported results (checksums) identical to the 4-level run's; its stack and mmap data
// above 2^48, so the walks use more than one PML5 entry.
#include "engine/core/machine.h"
#include "tests/integration/kernel_config.h"
#include "engine/host/host_frames.h"
#include "engine/host/p2m.h"
#include "engine/mmu/machine_env.h"
#include "engine/mmu/profile.h"
#include "engine/mmu/registry.h"
#include "vmmu/abi.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace vmmu {
namespace {
namespace fs = std::filesystem;

const char* kEveryWorkload =
    "hello ; forkwait n=20 ; ctxswitch rounds=200 procs=2 ; gups table_mib=2 updates=20000 ; "
    "stream array_mib=1 iterations=1 ; mmapchurn rounds=20 region_kib=64 ; "
    "sessions sessions=2 actions=1 ws_mib=1 think_ticks=1 bursts=1 burst_updates=500";

// Data accesses by where their gVA lies: above 2^48 (PML5 slot 1 and up) or below.
struct HighAccesses : GuestObserver {
    uint64_t high = 0, low = 0;
    void on_access(const DataAccess& a) override {
        (a.va.value() >= VMMU_LA57_HIGH ? high : low)++;
    }
};

// What the workloads reported (checksums, counts): the kernel's own statistics (context
// switches, frames in use) depend on its timing and on how many table frames it needs, and differ;
// so does ctxswitch's count of yields (a process yields again while its partner has not run, which
// depends on where the timer ticks land).
std::map<std::string, uint64_t> workload_results(const RunResult& r) {
    std::map<std::string, uint64_t> out;
    for (auto& [key, value] : r.reported)
        if (key.rfind("kernel.", 0) != 0 && key != "ctxswitch.yields") out[key] = value;
    return out;
}

struct Result {
    RunResult run;
    uint64_t high = 0, low = 0;
    std::map<std::string, uint64_t> walks; // per scheme
    std::map<std::string, uint64_t> max_refs;
};

Result run_all(int guest_levels, unsigned ept_levels, uint64_t flags = 0) {
    MachineConfig c = testing::kernel_config(kEveryWorkload);
    c.guest_bytes = uint64_t{256} << 20;
    c.boot_flags = flags;
    c.guest_levels = guest_levels;
    c.timer_period = 100'000;
    const Profile profile =
        load_profile("nehalem-2009", find_profile_dir(fs::path(VMMU_SOURCE_DIR)));
    Machine m(c);
    HostFrames host(host_layout({c.guest_bytes}));
    P2m p2m(HostPhys(host.range(0).base));
    std::vector<std::unique_ptr<Backend>> backends;
    const std::vector<std::string> schemes = {"native", "shadow", "slat", "agile", "ideal"};
    for (const std::string& name : schemes) {
        BackendEnv env = backend_env_for(m, p2m, &host, 0);
        env.profile = &profile;
        env.oracle = true;
        env.ept_levels = ept_levels;
        backends.push_back(create_backend(name, env));
        m.attach(*backends.back());
    }
    HighAccesses where;
    m.attach(where);
    Result r;
    r.run = m.run();
    r.high = where.high;
    r.low = where.low;
    for (size_t i = 0; i < schemes.size(); ++i) {
        r.walks[schemes[i]] = backends[i]->counters().walks.walks;
        r.max_refs[schemes[i]] = backends[i]->counters().walks.max_refs_per_walk;
    }
    return r;
}

void expect_clean(const Result& r) {
    EXPECT_EQ(r.run.stop, StopKind::Exited) << r.run.message << " at " << r.run.symbol;
    EXPECT_EQ(r.run.exit_status, 0) << r.run.console;
}

} // namespace

TEST(La57Guest, EveryWorkloadUnderEverySchemeReportsWhatFourLevelsReport) {
    Result four = run_all(4, 4);
    Result five = run_all(5, 4);
    Result five_five = run_all(5, 5);
    expect_clean(four);
    expect_clean(five);
    expect_clean(five_five);
    ASSERT_EQ(workload_results(four.run).count("sessions.checksum"), 1u);
    EXPECT_EQ(workload_results(five.run), workload_results(four.run));
    EXPECT_EQ(workload_results(five_five.run), workload_results(four.run));
    EXPECT_NE(five.run.console.find("5-level paging"), std::string::npos);
    // Four levels keep every access below 2^47; five put the stack and mmap data above 2^48.
    EXPECT_EQ(four.high, 0u);
    EXPECT_GT(five.high, five.low / 10);
    // The longest walks: 5 guest entries (native, shadow); at most (5+1)(4+1)-1 = 29 and
    // (5+1)(5+1)-1 = 35 references (slat, its caches shorten most walks).
    EXPECT_EQ(five.max_refs["native"], 5u);
    EXPECT_EQ(five.max_refs["shadow"], 5u);
    EXPECT_EQ(four.max_refs["native"], 4u);
    EXPECT_LE(five.max_refs["slat"], 29u);
    EXPECT_LE(five_five.max_refs["slat"], 35u);
}

TEST(La57Guest, TwoMegabyteGuestPages) {
    Result four = run_all(4, 4, VMMU_BOOT_FLAG_GUEST_2M);
    Result five = run_all(5, 5, VMMU_BOOT_FLAG_GUEST_2M);
    expect_clean(four);
    expect_clean(five);
    EXPECT_EQ(workload_results(five.run), workload_results(four.run));
    EXPECT_GT(five.high, 0u);
}

} // namespace vmmu
