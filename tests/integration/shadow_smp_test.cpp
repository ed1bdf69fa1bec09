// Shadow paging under the teaching kernel on several vCPUs (docs/ARCHITECTURE.md, "Several
// vCPUs"): with the oracle on, every translation of every vCPU agrees with the functional one,
// the workloads keep their one-vCPU checksums, a fork- or munmap-heavy run takes remote flushes
// and IPI exits that one vCPU never takes, and reruns are bit-identical for each quantum.
#include "engine/core/machine.h"
#include "tests/integration/kernel_config.h"
#include "engine/host/p2m.h"
#include "engine/mmu/backend.h"
#include "engine/mmu/machine_env.h"
#include "engine/mmu/profile.h"
#include "engine/mmu/registry.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

namespace vmmu {
namespace {

struct Observed {
    RunResult result;
    BackendCounters counters;
};

Observed run_shadow(const std::string& cmdline, unsigned vcpus,
                    uint64_t quantum = kDefaultVcpuQuantum) {
    MachineConfig c = testing::kernel_config(cmdline);
    c.vcpus = vcpus;
    c.vcpu_quantum = quantum;
    c.max_instructions = 400'000'000;
    Machine m(c);
    Profile prof =
        load_profile("nehalem-2009", std::filesystem::path(VMMU_SOURCE_DIR) / "workloads/profiles");
    P2m p2m(HostPhys(uint64_t{4} << 30));
    BackendEnv env = backend_env_for(m, p2m, nullptr, 0);
    env.profile = &prof;
    env.oracle = true;
    std::unique_ptr<Backend> b = create_backend("shadow", env);
    m.attach(*b);
    Observed o{m.run(), {}};
    o.counters = b->counters();
    return o;
}

uint64_t reported(const Observed& o, const std::string& k) {
    auto it = o.result.reported.find(k);
    EXPECT_NE(it, o.result.reported.end()) << "no report for " << k;
    return it == o.result.reported.end() ? ~uint64_t{0} : it->second;
}

TEST(ShadowSmp, TheOraclePassesOnEveryVcpuAndChecksumsMatchOneVcpu) {
    for (const char* w : {"forkwait n=30", "munmapstorm threads=3 rounds=4 region_kib=64"}) {
        std::string name = std::string(w).substr(0, std::string(w).find(' '));
        Observed one = run_shadow(w, 1);
        ASSERT_EQ(one.result.stop, StopKind::Exited) << w << ": " << one.result.message;
        EXPECT_EQ(one.counters.exits[ExitReason::RemoteFlush], 0u) << w;
        EXPECT_EQ(one.counters.exits[ExitReason::Ipi], 0u) << w;
        Observed two = run_shadow(w, 2);
        ASSERT_EQ(two.result.stop, StopKind::Exited) << w << ": " << two.result.message;
        EXPECT_EQ(reported(two, "kernel.cpus"), 2u) << w;
        EXPECT_EQ(reported(two, name + ".checksum"), reported(one, name + ".checksum")) << w;
        // Page-table changes on one vCPU reach the other: requests, kicks, entries flushed.
        EXPECT_GT(two.counters.details.at("remote_flush_requests"), 0u) << w;
        EXPECT_GT(two.counters.exits[ExitReason::RemoteFlush], 0u) << w;
        EXPECT_EQ(two.counters.exits[ExitReason::RemoteFlush],
                  two.counters.details.at("remote_flush_kicks"))
            << w;
        EXPECT_GT(two.counters.details.at("remote_flush_entries"), 0u) << w;
        // Every IPI the kernel sent exits on the sender; a receipt exits unless it woke the CPU.
        uint64_t sent = two.result.guest.ipis_sent, received = two.result.guest.ipis_received;
        EXPECT_GT(sent, 0u) << w;
        EXPECT_EQ(two.counters.exits[ExitReason::Ipi],
                  sent + received - two.counters.details.at("ipi_receives_woken"))
            << w;
    }
}

TEST(ShadowSmp, RerunsAreIdenticalForEachQuantum) {
    for (uint64_t q : {997u, 10'000u})
        for (unsigned n : {2u, 4u}) {
            Observed a = run_shadow("munmapstorm threads=3 rounds=3 region_kib=64", n, q),
                     b = run_shadow("munmapstorm threads=3 rounds=3 region_kib=64", n, q);
            ASSERT_EQ(a.result.stop, StopKind::Exited) << n << " " << q << ": " << a.result.message;
            EXPECT_EQ(a.result.guest.instructions, b.result.guest.instructions) << n << " " << q;
            EXPECT_EQ(a.counters.exits.by_reason, b.counters.exits.by_reason) << n << " " << q;
            EXPECT_EQ(a.counters.details, b.counters.details) << n << " " << q;
            EXPECT_EQ(a.counters.walks.walks, b.counters.walks.walks) << n << " " << q;
        }
}

} // namespace
} // namespace vmmu
