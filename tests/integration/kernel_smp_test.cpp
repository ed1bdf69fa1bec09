// The teaching kernel on several vCPUs (workloads/README.md, "Several CPUs"): every workload's
// checksum equals its one-vCPU checksum, the work spreads over the CPUs, and munmap in a
// multi-threaded address space shoots down the other CPUs' TLBs (and a missing shootdown would
// show: munmapstorm checks that every freshly mapped page reads as zero). No MMU backend is
// attached: these test the guest on the engine's vCPUs, not the models.
#include "engine/core/machine.h"
#include "tests/integration/kernel_config.h"
#include "vmmu/abi.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace vmmu {
namespace {

RunResult boot(const std::string& cmdline, unsigned vcpus, uint64_t quantum = kDefaultVcpuQuantum,
               uint64_t budget = 2'000'000'000, GuestObserver* observer = nullptr) {
    MachineConfig c = testing::kernel_config(cmdline);
    c.vcpus = vcpus;
    c.vcpu_quantum = quantum;
    c.max_instructions = budget;
    Machine m(c);
    if (observer) m.attach(*observer);
    return m.run();
}

uint64_t key(const RunResult& r, const std::string& k) {
    auto it = r.reported.find(k);
    EXPECT_NE(it, r.reported.end()) << "no report for " << k << "\nconsole:\n" << r.console;
    return it == r.reported.end() ? ~uint64_t{0} : it->second;
}

void expect_clean_exit(const RunResult& r) {
    ASSERT_EQ(r.stop, StopKind::Exited) << r.message << " at " << r.symbol << "\n" << r.console;
    EXPECT_EQ(r.exit_status, 0) << r.console;
    EXPECT_EQ(key(r, "kernel.killed"), 0u);
}

struct Workload {
    std::string name, args;
};

const std::vector<Workload> kWorkloads = {
    {"hello", ""},
    {"forkwait", "n=30"},
    {"ctxswitch", "rounds=100 procs=3"},
    {"gups", "table_mib=2 updates=10000"},
    {"stream", "array_mib=1 iterations=1"},
    {"mmapchurn", "rounds=10 region_kib=64"},
    {"sessions", "sessions=3 actions=2 ws_mib=1 think_ticks=1 bursts=2 burst_updates=1000"},
    {"threads", "threads=4 table_mib=2 updates=20000"},
    {"munmapstorm", "threads=4 rounds=8 region_kib=64"},
};

TEST(KernelSmp, EveryChecksumEqualsItsOneCpuChecksum) {
    for (const auto& w : kWorkloads) {
        RunResult one = boot(w.name + " " + w.args, 1);
        expect_clean_exit(one);
        uint64_t want = key(one, w.name + ".checksum");
        for (unsigned n : {2u, 4u}) {
            RunResult r = boot(w.name + " " + w.args, n);
            expect_clean_exit(r);
            EXPECT_EQ(key(r, "kernel.cpus"), n);
            EXPECT_EQ(key(r, w.name + ".ok"), 1u) << w.name << " on " << n << " vCPUs";
            EXPECT_EQ(key(r, w.name + ".checksum"), want) << w.name << " on " << n << " vCPUs";
        }
    }
}

TEST(KernelSmp, MunmapInAThreadedAddressSpaceShootsDownTheOtherCpus) {
    RunResult r = boot("munmapstorm threads=4 rounds=10 region_kib=64", 4);
    expect_clean_exit(r);
    EXPECT_EQ(key(r, "munmapstorm.ok"), 1u); // no stale translation reached a reused page
    uint64_t shootdowns = key(r, "kernel.shootdowns");
    EXPECT_GT(shootdowns, 0u);
    // Each shootdown asks at least one CPU; every request asked is served and acked.
    EXPECT_GE(key(r, "kernel.shootdown_targets"), shootdowns);
    EXPECT_EQ(key(r, "kernel.shootdowns_served"), key(r, "kernel.shootdown_targets"));
    EXPECT_GE(key(r, "kernel.ipis_sent"), key(r, "kernel.shootdown_targets"));
}

// Watches, from outside the guest, which address spaces each vCPU has run (the CR3 values it
// loaded) and which vCPUs each shootdown IPI reaches.
struct ShootdownWatch : GuestObserver {
    static constexpr uint64_t kRoot = ~uint64_t{0xfff}; // CR3 without PCID and flag bits
    unsigned running = 0;
    std::array<uint64_t, 8> current{};          // each vCPU's CR3 now
    std::array<std::vector<uint64_t>, 8> ran{}; // every CR3 each vCPU has loaded
    uint64_t shootdown_ipis = 0, targets = 0, targets_that_never_ran_it = 0;
    bool models_vcpus() const override { return true; }
    void load(unsigned cpu, uint64_t cr3) {
        current[cpu] = cr3 & kRoot;
        if (std::find(ran[cpu].begin(), ran[cpu].end(), current[cpu]) == ran[cpu].end())
            ran[cpu].push_back(current[cpu]);
    }
    void on_vcpu_start(unsigned index) override { load(index, current[running]); }
    void on_vcpu_switch(unsigned index) override { running = index; }
    void on_cr3_write(uint64_t, uint64_t cr3) override { load(running, cr3); }
    void on_ipi_send(uint64_t, uint16_t, uint8_t vector, uint32_t dests) override {
        if (vector != VMMU_VEC_IPI_SHOOTDOWN) return;
        ++shootdown_ipis;
        uint64_t space = current[running];
        for (unsigned j = 0; j < 8; ++j)
            if (dests & (1u << j)) {
                ++targets;
                targets_that_never_ran_it +=
                    std::find(ran[j].begin(), ran[j].end(), space) == ran[j].end();
            }
    }
};

// A shootdown reaches only CPUs that ran the address space (seen by the engine: each target has
// loaded the initiator's CR3), and every CPU that may cache it (seen by the guest: munmapstorm
// reads every page it maps again as zero, so a CPU left out would read a freed page's old data
// through its TLB, and `ok` would be 0; its per-vCPU TLB is Unicorn's own, tests/smp_test.cpp).
TEST(KernelSmp, AShootdownReachesTheCpusThatRanTheAddressSpaceAndNoOther) {
    for (unsigned n : {2u, 4u}) {
        ShootdownWatch w;
        w.load(0, 0);
        RunResult r = boot("munmapstorm threads=3 rounds=10 region_kib=64 ; hello", n,
                           kDefaultVcpuQuantum, 2'000'000'000, &w);
        expect_clean_exit(r);
        EXPECT_EQ(key(r, "munmapstorm.ok"), 1u) << n;
        EXPECT_GT(w.shootdown_ipis, 0u) << n;
        EXPECT_EQ(w.targets_that_never_ran_it, 0u) << n << " vCPUs: " << w.targets << " targets";
        EXPECT_EQ(w.targets, key(r, "kernel.shootdown_targets")) << n;
    }
}

TEST(KernelSmp, OneCpuNeverShootsDown) {
    RunResult r = boot("munmapstorm threads=4 rounds=10 region_kib=64", 1);
    expect_clean_exit(r);
    EXPECT_EQ(key(r, "kernel.shootdowns"), 0u);
    EXPECT_EQ(key(r, "kernel.ipis_sent"), 0u);
}

TEST(KernelSmp, ProcessesSpreadOverTheCpus) {
    RunResult r = boot("sessions sessions=4 actions=2 ws_mib=1 think_ticks=1 bursts=2 "
                       "burst_updates=2000",
                       4);
    expect_clean_exit(r);
    for (int c = 0; c < 4; ++c)
        EXPECT_GT(key(r, "kernel.cpu" + std::to_string(c) + ".context_switches"), 0u) << c;
    EXPECT_GT(key(r, "kernel.migrations"), 0u);
}

// The vCPUs take turns that end at block boundaries. A CPU whose thread yields in a loop (a
// worker waiting for `go`) takes the process-table lock on every pass; on 6 vCPUs at quantum 5000
// its turn always ended at the same instruction, inside that lock's critical section, and with a
// test-and-set lock the other five, which only run while it is stopped, found the lock taken
// every time and never got it (still spinning after 6.7 G instructions). A ticket lock serves
// them first (workloads/kernel/lock.c). The budget bounds a starved run.
TEST(KernelSmp, ALockIsServedInOrderSoNoCpuStarves) {
    RunResult r = boot("threads threads=4 table_mib=2 updates=20000", 6, 5000, 300'000'000);
    expect_clean_exit(r);
    EXPECT_EQ(key(r, "threads.ok"), 1u);
}

// An idle CPU that keeps an address space lazily is only marked when another CPU unmaps in it
// (no IPI); the mark makes it flush before it runs a thread of that space again. Woken with
// nothing to run, it went idle again and overwrote the mark, and the thread it ran next used
// translations to frames freed meanwhile: threads' table came back wrong (4915 words) in these
// runs (workloads/kernel/smp.c, tlb_enter_lazy).
TEST(KernelSmp, AFlushDeferredForAnIdleCpuSurvivesItsIdleWakeUps) {
    for (auto [vcpus, quantum] : {std::pair{6u, 997u}, {8u, 100u}, {8u, 5000u}}) {
        RunResult r = boot("threads threads=4 table_mib=2 updates=20000", vcpus, quantum);
        expect_clean_exit(r);
        EXPECT_EQ(key(r, "threads.errors"), 0u) << vcpus << " vCPUs, quantum " << quantum;
        EXPECT_GT(key(r, "kernel.shootdown_lazy"), 0u);
    }
}

TEST(KernelSmp, RerunsAreIdentical) {
    RunResult a = boot("threads threads=3 table_mib=1 updates=5000 ; munmapstorm threads=3 "
                       "rounds=5 region_kib=64",
                       3);
    RunResult b = boot("threads threads=3 table_mib=1 updates=5000 ; munmapstorm threads=3 "
                       "rounds=5 region_kib=64",
                       3);
    expect_clean_exit(a);
    EXPECT_EQ(a.reported, b.reported);
    EXPECT_EQ(a.guest.instructions, b.guest.instructions);
    EXPECT_EQ(a.console, b.console);
}

} // namespace
} // namespace vmmu
