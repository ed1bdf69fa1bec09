// Schemes on several vCPUs, on the two-CPU probe kernel (tests/guests/smp_probe.c): a scheme
// that models vCPUs keeps a TLB per vCPU, so with the oracle on it agrees with the functional
// layer even where one vCPU reads a stale translation; a scheme that does not is refused.
#include "engine/core/machine.h"
#include "engine/host/p2m.h"
#include "engine/mmu/backend.h"
#include "engine/mmu/machine_env.h"
#include "engine/mmu/profile.h"
#include "engine/mmu/registry.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>

namespace vmmu {
namespace {

struct Observed {
    RunResult result;
    BackendCounters counters;
};

Observed run_with(const std::string& backend, const std::string& cmd, uint64_t quantum = 1000) {
    MachineConfig c;
    c.kernel_path = VMMU_GUEST_DIR "/tests/smp_probe.elf";
    c.cmdline = cmd;
    c.guest_bytes = uint64_t{64} << 20;
    c.timer_period = 100'000;
    c.max_instructions = 20'000'000;
    c.vcpus = 2;
    c.vcpu_quantum = quantum;
    Machine m(c);
    Profile prof =
        load_profile("nehalem-2009", std::filesystem::path(VMMU_SOURCE_DIR) / "workloads/profiles");
    P2m p2m(HostPhys(uint64_t{4} << 30));
    BackendEnv env = backend_env_for(m, p2m, nullptr, 0);
    env.profile = &prof;
    env.oracle = true;
    std::unique_ptr<Backend> b = create_backend(backend, env);
    m.attach(*b);
    Observed o{m.run(), {}};
    o.counters = b->counters();
    return o;
}

TEST(SmpBackends, NativeKeepsATlbPerVcpuSoAStaleReadPassesTheOracle) {
    // CPU 1 reads the old frame after CPU 0 remapped the page and flushed only its own TLB: a
    // single TLB for both would walk CPU 0's new mapping and disagree with the functional read.
    Observed o = run_with("native", "stale");
    ASSERT_EQ(o.result.stop, StopKind::Exited) << o.result.message;
    EXPECT_EQ(o.result.reported.at("stale.cpu1_second"), 111u);
    EXPECT_EQ(o.result.reported.at("stale.cpu1_flushed"), 222u);
}

TEST(SmpBackends, NativeFollowsAShootdownOnTheTargetVcpu) {
    Observed o = run_with("native", "shootdown");
    ASSERT_EQ(o.result.stop, StopKind::Exited) << o.result.message;
    EXPECT_EQ(o.result.reported.at("stale.cpu1_second"), 222u);
    // Hand count: CPU 0's own invlpg, CPU 1's in the shootdown handler and after its read.
    EXPECT_EQ(o.result.guest.invlpgs, 3u);
    EXPECT_EQ(o.counters.exits.total(), 0u);
}

TEST(SmpBackends, NativeCountersAreIdenticalOnRerunForEachQuantum) {
    for (uint64_t q : {1u, 37u, 1000u}) {
        Observed a = run_with("native", "shootdown", q), b = run_with("native", "shootdown", q);
        ASSERT_EQ(a.result.stop, StopKind::Exited) << q << ": " << a.result.message;
        EXPECT_EQ(a.counters.tlb.l1d_misses, b.counters.tlb.l1d_misses) << q;
        EXPECT_EQ(a.counters.walks.walks, b.counters.walks.walks) << q;
        EXPECT_EQ(a.result.guest.instructions, b.result.guest.instructions) << q;
    }
}

TEST(SmpBackends, ASchemeWithoutPerVcpuStateIsRefusedWhenTheGuestStartsAnAp) {
    for (const char* scheme : {"shadow", "slat", "agile"}) {
        Observed o = run_with(scheme, "ipi");
        EXPECT_EQ(o.result.stop, StopKind::GuestFault) << scheme;
        EXPECT_NE(o.result.message.find("does not model several vCPUs"), std::string::npos)
            << scheme << ": " << o.result.message;
    }
}

TEST(SmpBackends, IdealRunsOnSeveralVcpus) {
    Observed o = run_with("ideal", "shootdown");
    ASSERT_EQ(o.result.stop, StopKind::Exited) << o.result.message;
}

} // namespace
} // namespace vmmu
