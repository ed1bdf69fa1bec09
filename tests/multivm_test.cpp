// Several VMs on one host: scheduling, world switches, host memory layout.
#include "engine/experiment/density.h"
#include "engine/experiment/multi_vm.h"
#include "engine/experiment/run.h"
#include "engine/output/multi_report.h"
#include "engine/output/run_report.h"
#include "run_results.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace vmmu {
namespace {

class MultiVm : public ::testing::Test {
protected:
    void SetUp() override {
        setenv("VMMU_GUEST_DIR", VMMU_GUEST_DIR, 1);
        setenv("VMMU_PROFILE_DIR", VMMU_SOURCE_DIR "/workloads/profiles", 1);
    }
    static RunOptions vm(const std::string& workload, std::vector<std::string> params,
                         const std::string& profile = "nehalem-2009") {
        RunOptions o;
        o.workload = workload;
        o.params = std::move(params);
        o.profile = profile;
        o.guest_mib = 256;
        return o;
    }
    // nehalem-2009 with VPID switched off: every VM exit and entry flushes (SDM 28.3.3.1).
    static std::string no_vpid_profile() {
        auto j = nlohmann::json::parse(
            std::ifstream(VMMU_SOURCE_DIR "/workloads/profiles/nehalem-2009.json"));
        j["name"] = "nehalem-no-vpid";
        j["features"]["vpid"] = false;
        auto path = std::filesystem::temp_directory_path() / "vmmu-multivm-no-vpid.json";
        std::ofstream(path) << j.dump();
        return path.string();
    }
    static const BackendResult& backend(const RunOutput& r, const std::string& name) {
        return test_results::find_backend(r.backends, name);
    }
    static uint64_t detail(const BackendResult& b, const char* key) {
        return test_results::detail(b, key);
    }
    static uint64_t checksum(const RunOutput& r) { return test_results::checksum(r); }
};

TEST_F(MultiVm, TwoVmsRunningDifferentWorkloadsMatchTheirSoloChecksums) {
    MultiOptions m;
    m.vms = {vm("forkwait", {"n=40"}), vm("mmapchurn", {"rounds=40"})};
    m.quantum = 100'000;
    MultiOutput multi = execute_multi(m);
    ASSERT_EQ(multi.vms.size(), 2u);
    for (size_t i = 0; i < 2; ++i) {
        RunOutput solo = execute_run(m.vms[i]);
        const RunOutput& shared = multi.vms[i].run;
        ASSERT_EQ(run_exit_code(shared.result), 0) << shared.result.message;
        EXPECT_EQ(checksum(shared), checksum(solo)) << m.vms[i].workload;
        // Same guest, instruction for instruction: scheduling is invisible to the guest.
        EXPECT_EQ(shared.result.guest.instructions, solo.result.guest.instructions);
        EXPECT_EQ(shared.result.guest.page_faults, solo.result.guest.page_faults);
        EXPECT_GT(multi.vms[i].world_switches, 0u);
    }
    EXPECT_EQ(multi_exit_code(multi), 0);
    EXPECT_EQ(multi_status(multi), "ok");
}

TEST_F(MultiVm, WorldSwitchesFlushUntaggedTlbsOnly) {
    for (bool vpid : {true, false}) {
        std::string profile = vpid ? "nehalem-2009" : no_vpid_profile();
        MultiOptions m;
        m.vms = {vm("forkwait", {"n=30"}, profile), vm("forkwait", {"n=30"}, profile)};
        m.vms[0].backends = m.vms[1].backends = {"shadow", "slat"};
        m.quantum = 50'000;
        MultiOutput multi = execute_multi(m);
        RunOutput solo = execute_run(m.vms[0]);
        const VmOutput& v = multi.vms[0];
        ASSERT_GT(v.world_switches, 0u);
        for (const char* name : {"shadow", "slat"}) {
            const BackendResult& s = backend(solo, name);
            const BackendResult& b = backend(v.run, name);
            SCOPED_TRACE(std::string(name) + (vpid ? " with VPID" : " without VPID"));
            // Each switch is one more exit of reason "other", counted as a world switch.
            EXPECT_EQ(detail(b, "world_switches"), v.world_switches);
            EXPECT_EQ(b.counters.exits[ExitReason::Other],
                      s.counters.exits[ExitReason::Other] + v.world_switches);
            // Untagged: one full TLB flush per switch; tagged by VPID: none.
            EXPECT_EQ(b.counters.tlb.flushes,
                      s.counters.tlb.flushes + (vpid ? 0 : v.world_switches));
        }
    }
}

TEST_F(MultiVm, NativeSwitchesAddressSpacesWithoutExits) {
    MultiOptions m;
    m.vms = {vm("hello", {}), vm("forkwait", {"n=20"})};
    m.vms[0].backends = m.vms[1].backends = {"native"};
    m.quantum = 20'000;
    MultiOutput multi = execute_multi(m);
    const BackendResult& b = backend(multi.vms[1].run, "native");
    EXPECT_EQ(b.counters.exits.total(), 0u);
    EXPECT_EQ(detail(b, "world_switches"), multi.vms[1].world_switches);
}

TEST_F(MultiVm, EveryVmGetsItsOwnHostRange) {
    auto layout = host_layout({256ull << 20, 1ull << 30, 3ull << 30});
    ASSERT_EQ(layout.size(), 3u);
    for (size_t i = 0; i < layout.size(); ++i) {
        EXPECT_EQ(layout[i].base % (1ull << 30), 0u) << "1 GiB-aligned for 1G EPT pages";
        EXPECT_LE(layout[i].guest_end, layout[i].end);
        if (i > 0) {
            EXPECT_GE(layout[i].base, layout[i - 1].end) << "ranges overlap";
        }
    }
    EXPECT_EQ(layout[0].base, 4ull << 30) << "VM 0 where a single VM lives";
}

TEST_F(MultiVm, HostMemoryIsCountedPerVmAndMachinesUseTheirRanges) {
    MultiOptions m;
    m.vms = {vm("hello", {}), vm("gups", {"table_mib=8", "updates=20000"})};
    m.vms[0].backends = m.vms[1].backends = {"slat"};
    MultiOutput multi = execute_multi(m);
    ASSERT_EQ(multi_exit_code(multi), 0);
    // gups touches every frame of its 8 MiB table (2048 frames); hello far fewer.
    EXPECT_GT(multi.vms[1].memory.frames_touched, 2048u);
    EXPECT_LT(multi.vms[0].memory.frames_touched, 1024u);
    EXPECT_GT(multi.vms[0].memory.frames_touched, 0u);
    // The oracle (on by default) checked every slat translation against each VM's own p2m.
    auto j = multi_json(multi);
    EXPECT_EQ(j["schema"], "vmmu.multi/1");
    EXPECT_EQ(j["totals"]["host_memory"]["frames_touched"],
              multi.vms[0].memory.frames_touched + multi.vms[1].memory.frames_touched);
    // 4 GiB + (256 MiB rounded up to 1 GiB + 1 GiB of EPT + 1 GiB of shadow pages).
    EXPECT_EQ(j["vms"][1]["vm"]["host_range"]["base"], "0x1c0000000");
}

TEST_F(MultiVm, BadOptionsNameTheValue) {
    MultiOptions m;
    EXPECT_THROW(execute_multi(m), std::invalid_argument);
    m.vms = {vm("hello", {}), vm("hello", {})};
    m.vms[1].backends = {"slat"};
    try {
        execute_multi(m);
        FAIL() << "different backends accepted";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("VM 1"), std::string::npos) << e.what();
    }
}

// Synthetic points: cycles per VM grow with N (world switches); the host has 1e10 cycles/s.
TEST(Density, CpuBoundWhenCyclesPerVmExhaustTheHost) {
    HostModel host{1, 10, 1, 1}; // 1e10 cycles/s
    std::vector<DensityPoint> pts = {
        {1, 1e9, 100 << 20}, {2, 2.2e9, 200 << 20}, {3, 3.6e9, 300 << 20}};
    DensityLimit d = density_limit(pts, host, uint64_t{64} << 30);
    // cycles/VM 1.0, 1.1, 1.2 e9, then held at 1.2e9: k × 1.2e9 ≤ 1e10 gives 8 VMs.
    EXPECT_EQ(d.cpu.sessions, 8u);
    EXPECT_TRUE(d.cpu.extrapolated);
    EXPECT_STREQ(d.bound(), "cpu");
    EXPECT_EQ(d.vms(), 8u);
}

TEST(Density, MemoryBoundWhenHostFramesRunOut) {
    HostModel host{64, 3, 1, 1};
    std::vector<DensityPoint> pts = {{1, 1e6, 100 << 20}, {2, 2e6, 200 << 20}};
    // 100 MiB a VM in 550 MiB: 5 VMs, the last three extrapolated.
    DensityLimit d = density_limit(pts, host, uint64_t{550} << 20);
    EXPECT_EQ(d.memory_vms, 5u);
    EXPECT_TRUE(d.memory_extrapolated);
    EXPECT_STREQ(d.bound(), "memory");
    // Inside the measured range: 150 MiB holds one VM, not two.
    EXPECT_EQ(density_limit(pts, host, uint64_t{150} << 20).memory_vms, 1u);
    EXPECT_EQ(density_limit(pts, host, uint64_t{50} << 20).vms(), 0u);
}

TEST(Density, RejectsEmptyOrBadPoints) {
    HostModel host{1, 1, 1, 1};
    EXPECT_THROW(density_limit({}, host, 1 << 20), std::invalid_argument);
    EXPECT_THROW(density_limit({{0, 1e6, 1}}, host, 1 << 20), std::invalid_argument);
    EXPECT_THROW(density_limit({{2, 1e6, 1}, {1, 1e6, 1}}, host, 1 << 20), std::invalid_argument);
}

} // namespace
} // namespace vmmu
