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
#include <map>
#include <memory>
#include <string>
#include <utility>

namespace vmmu {
namespace {

struct Observed {
    RunResult result;
    BackendCounters counters;
};

Observed run_with(const std::string& backend, const std::string& cmd, uint64_t quantum = 1000,
                  unsigned vcpus = 2, bool oracle = true,
                  std::map<std::string, std::string> options = {}) {
    MachineConfig c;
    c.kernel_path = VMMU_GUEST_DIR "/tests/smp_probe.elf";
    c.cmdline = cmd;
    c.guest_bytes = uint64_t{64} << 20;
    c.timer_period = 100'000;
    c.max_instructions = 20'000'000;
    c.vcpus = vcpus;
    c.vcpu_quantum = quantum;
    Machine m(c);
    Profile prof =
        load_profile("nehalem-2009", std::filesystem::path(VMMU_SOURCE_DIR) / "workloads/profiles");
    P2m p2m(HostPhys(uint64_t{4} << 30));
    BackendEnv env = backend_env_for(m, p2m, nullptr, 0);
    env.profile = &prof;
    env.oracle = oracle;
    env.options = std::move(options);
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
    for (const char* scheme : {"slat", "agile"}) {
        Observed o = run_with(scheme, "ipi");
        EXPECT_EQ(o.result.stop, StopKind::GuestFault) << scheme;
        EXPECT_NE(o.result.message.find("does not model several vCPUs"), std::string::npos)
            << scheme << ": " << o.result.message;
    }
}

// Shadow paging on two vCPUs. The SMP events of each probe, counted by hand at quantum 1000
// (tests/guests/smp_probe.c; the rest of each run, boot and reports, is the same as on one vCPU):
//   ipi: 3 rounds of CPU 0 sending to CPU 1 and CPU 1 answering. Each receiver is halted when
//     its IPI arrives (CPU 1 in `sti; hlt`, CPU 0 halted right after its send), so the 6 sends
//     exit (`ipi`) and the 6 receipts do not (ipi_receives_woken); the 6 EOIs are `io` exits.
//     No page table changes: no remote flush.
//   shootdown: CPU 0's PTE write makes the leaf table unsync (1 pt_write exit, no flush); its
//     invlpg resyncs it, a present shadow leaf changes: 1 remote flush request, CPU 1 spinning
//     in the guest is kicked (1 remote_flush exit). CPU 0 then sends the shootdown IPI (1 `ipi`
//     exit) and CPU 1, running with IF=1, takes it (1 `ipi` exit); 1 EOI (`io`).
//   ptshare: the same page-table write and invlpg on kPage2, which CPU 1 never uses: 1 request,
//     1 kick, and CPU 1's TLB entries for kPage go, so its second read of kPage walks again.
TEST(SmpBackends, ShadowIpiExitsMatchTheHandCount) {
    Observed o = run_with("shadow", "ipi");
    ASSERT_EQ(o.result.stop, StopKind::Exited) << o.result.message;
    EXPECT_EQ(o.result.guest.ipis_sent, 6u);
    EXPECT_EQ(o.counters.exits[ExitReason::Ipi], 6u);
    EXPECT_EQ(o.counters.details.at("ipi_receives_woken"), 6u);
    EXPECT_EQ(o.counters.exits[ExitReason::RemoteFlush], 0u);
    EXPECT_EQ(o.counters.details.at("remote_flush_requests"), 0u);
    // Every port write but the IPI sends exits as `io`: the reports, the hypercalls, the 6 EOIs.
    EXPECT_EQ(o.counters.exits[ExitReason::Io], o.result.guest.io_writes - 6u);
}

TEST(SmpBackends, ShadowShootdownExitsAndRemoteFlushesMatchTheHandCount) {
    Observed o = run_with("shadow", "shootdown");
    ASSERT_EQ(o.result.stop, StopKind::Exited) << o.result.message;
    EXPECT_EQ(o.result.reported.at("stale.cpu1_second"), 222u);
    EXPECT_EQ(o.counters.exits[ExitReason::Ipi], 2u);
    EXPECT_EQ(o.counters.details.at("ipi_receives_woken"), 0u);
    EXPECT_EQ(o.counters.details.at("remote_flush_requests"), 1u);
    EXPECT_EQ(o.counters.details.at("remote_flush_kicks"), 1u);
    EXPECT_EQ(o.counters.details.at("remote_flush_deferred"), 0u);
    EXPECT_EQ(o.counters.exits[ExitReason::RemoteFlush], 1u);
    EXPECT_EQ(o.counters.details.at("mmu_unsync"), 1u);
    EXPECT_EQ(o.counters.details.at("mmu_resync"), 1u);
}

TEST(SmpBackends, ShadowRemoteFlushReallyFlushesTheOtherVcpu) {
    Observed o = run_with("shadow", "ptshare");
    ASSERT_EQ(o.result.stop, StopKind::Exited) << o.result.message;
    EXPECT_EQ(o.result.reported.at("ptshare.cpu1_second"), 111u);
    EXPECT_EQ(o.result.reported.at("ptshare.cpu0_second"), 444u);
    EXPECT_EQ(o.counters.details.at("remote_flush_requests"), 1u);
    EXPECT_EQ(o.counters.details.at("remote_flush_kicks"), 1u);
    EXPECT_EQ(o.counters.exits[ExitReason::RemoteFlush], 1u);
    // What CPU 1's TLB held when it served the request (its code, stack, data and kPage).
    EXPECT_GT(o.counters.details.at("remote_flush_entries"), 0u);
    // Without unsync the write itself is emulated and changes the shadow leaf: the same flush.
    Observed sync = run_with("shadow", "ptshare", 1000, 2, true, {{"unsync", "0"}});
    ASSERT_EQ(sync.result.stop, StopKind::Exited) << sync.result.message;
    EXPECT_EQ(sync.counters.details.at("mmu_unsync"), 0u);
    EXPECT_EQ(sync.counters.details.at("remote_flush_requests"), 1u);
}

TEST(SmpBackends, ShadowCountersAreIdenticalOnRerunForEachQuantumAndVcpuCount) {
    for (unsigned vcpus : {2u, 4u})
        for (uint64_t q : {1u, 37u, 1000u}) {
            Observed a = run_with("shadow", "ptshare", q, vcpus),
                     b = run_with("shadow", "ptshare", q, vcpus);
            ASSERT_EQ(a.result.stop, StopKind::Exited) << q << ": " << a.result.message;
            EXPECT_EQ(a.counters.exits.by_reason, b.counters.exits.by_reason) << vcpus << " " << q;
            EXPECT_EQ(a.counters.details, b.counters.details) << vcpus << " " << q;
            EXPECT_EQ(a.counters.walks.walks, b.counters.walks.walks) << vcpus << " " << q;
            EXPECT_EQ(a.counters.tlb.l1d_misses, b.counters.tlb.l1d_misses) << vcpus << " " << q;
        }
}

// A guest that skips a shootdown: CPU 1's QEMU TLB still holds the old frame, but KVM's remote
// flush (after CPU 0's invlpg resynced the shadow leaf) emptied CPU 1's modelled TLB, so under
// shadow paging its next read walks to the new frame: on real hardware the guest's bug would be
// hidden. The oracle reports the disagreement; without it the run completes.
TEST(SmpBackends, ShadowRemoteFlushHidesASkippedShootdownAndTheOracleSaysSo) {
    Observed o = run_with("shadow", "stale");
    EXPECT_EQ(o.result.stop, StopKind::OracleMismatch) << o.result.message;
    Observed off = run_with("shadow", "stale", 1000, 2, /*oracle=*/false);
    ASSERT_EQ(off.result.stop, StopKind::Exited) << off.result.message;
    EXPECT_EQ(off.result.reported.at("stale.cpu1_second"), 111u);
    EXPECT_EQ(off.counters.details.at("remote_flush_kicks"), 1u);
}

TEST(SmpBackends, IdealRunsOnSeveralVcpus) {
    Observed o = run_with("ideal", "shootdown");
    ASSERT_EQ(o.result.stop, StopKind::Exited) << o.result.message;
}

} // namespace
} // namespace vmmu
