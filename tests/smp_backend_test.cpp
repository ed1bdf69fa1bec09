// Schemes on several vCPUs, on the two-CPU probe kernel (tests/guests/smp_probe.c): a scheme
// that models vCPUs keeps a TLB per vCPU, so with the oracle on it agrees with the functional
// layer even where one vCPU reads a stale translation; a scheme that does not is refused.
#include "engine/core/machine.h"
#include "engine/core/x86.h"
#include "engine/experiment/run.h"
#include "engine/output/run_report.h"
#include "engine/host/p2m.h"
#include "engine/mmu/backend.h"
#include "engine/mmu/inspect.h"
#include "engine/mmu/machine_env.h"
#include "engine/mmu/profile.h"
#include "engine/mmu/registry.h"
#include "run_results.h"

#include "vmmu/abi.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace vmmu {
namespace {

struct Observed {
    RunResult result;
    BackendCounters counters;
};

MachineConfig probe_config(const std::string& cmd, uint64_t quantum, unsigned vcpus) {
    MachineConfig c;
    c.kernel_path = VMMU_GUEST_DIR "/tests/smp_probe.elf";
    c.cmdline = cmd;
    c.guest_bytes = uint64_t{64} << 20;
    c.timer_period = 100'000;
    c.max_instructions = 20'000'000;
    c.vcpus = vcpus;
    c.vcpu_quantum = quantum;
    return c;
}

Profile nehalem(const std::vector<std::string>& sets = {}) {
    return load_profile("nehalem-2009",
                        std::filesystem::path(VMMU_SOURCE_DIR) / "workloads/profiles", sets);
}

// A booted probe machine with one backend attached, kept alive for what a test does after the
// run.
struct ProbeRun {
    ProbeRun(const std::string& backend, const std::string& cmd, uint64_t quantum = 1000,
             unsigned vcpus = 2, const std::vector<std::string>& sets = {}, bool oracle = true,
             std::map<std::string, std::string> options = {})
        : m(probe_config(cmd, quantum, vcpus)), prof(nehalem(sets)),
          p2m(HostPhys(uint64_t{4} << 30)) {
        BackendEnv env = backend_env_for(m, p2m, nullptr, 0);
        env.profile = &prof;
        env.oracle = oracle;
        env.options = std::move(options);
        b = create_backend(backend, env);
        m.attach(*b);
        result = m.run();
    }
    Machine m;
    Profile prof;
    P2m p2m;
    std::unique_ptr<Backend> b;
    RunResult result;
};

Observed run_with(const std::string& backend, const std::string& cmd, uint64_t quantum = 1000,
                  unsigned vcpus = 2, const std::vector<std::string>& sets = {}, bool oracle = true,
                  std::map<std::string, std::string> options = {}) {
    ProbeRun r(backend, cmd, quantum, vcpus, sets, oracle, std::move(options));
    return {r.result, r.b->counters()};
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

// Every shipped scheme models vCPUs; an observer that does not (a new scheme before it does) is
// refused when the guest starts a second vCPU, naming the fix.
TEST(SmpBackends, AnObserverWithoutPerVcpuStateIsRefusedWhenTheGuestStartsAnAp) {
    struct OneCpuOnly : GuestObserver {};
    OneCpuOnly plain;
    Machine m(probe_config("ipi", 1000, 2));
    m.attach(plain);
    RunResult r = m.run();
    EXPECT_EQ(r.stop, StopKind::GuestFault);
    EXPECT_NE(r.message.find("does not model several vCPUs"), std::string::npos) << r.message;
}

// Under nested paging a vCPU keeps its own TLBs: CPU 1's stale read (no shootdown) agrees with
// the functional layer, and so does the read after the guest's own shootdown.
TEST(SmpBackends, SlatAndAgileKeepATlbPerVcpu) {
    for (const char* scheme : {"slat", "agile"}) {
        Observed stale = run_with(scheme, "stale");
        ASSERT_EQ(stale.result.stop, StopKind::Exited) << scheme << ": " << stale.result.message;
        EXPECT_EQ(stale.result.reported.at("stale.cpu1_second"), 111u) << scheme;
        EXPECT_EQ(stale.result.reported.at("stale.cpu1_flushed"), 222u) << scheme;
        Observed shot = run_with(scheme, "shootdown");
        ASSERT_EQ(shot.result.stop, StopKind::Exited) << scheme << ": " << shot.result.message;
        EXPECT_EQ(shot.result.reported.at("stale.cpu1_second"), 222u) << scheme;
    }
}

// The guest's TLB shootdown needs no hypervisor under nested paging: its IPI exits (nehalem has
// no APIC virtualization), its invlpgs do not, and slat asks for no remote flush.
// Hand count (tests/guests/smp_probe.c, "shootdown"): CPU 0 sends one IPI to CPU 1 (1 exit on
// the sender, 1 on the receiver), CPU 1's handler EOIs once (1 io exit); 3 invlpgs, no exit.
// agile on top: CPU 0's rewrite of kPage's entry (frame a to frame b) lands in a guest table it
// still shadows (2 writes, not above nested_threshold): one remote flush, CPU 1 kicked.
TEST(SmpBackends, AGuestShootdownUnderSlatTakesOnlyItsIpiExits) {
    for (const char* scheme : {"slat", "agile"}) {
        bool agile = std::string(scheme) == "agile";
        Observed o = run_with(scheme, "shootdown");
        ASSERT_EQ(o.result.stop, StopKind::Exited) << scheme << ": " << o.result.message;
        EXPECT_EQ(o.result.guest.invlpgs, 3u) << scheme;
        EXPECT_EQ(o.counters.exits[ExitReason::Invlpg], 0u) << scheme;
        EXPECT_EQ(o.counters.exits[ExitReason::Ipi], 2u) << scheme;
        EXPECT_EQ(o.counters.exits[ExitReason::RemoteFlush], agile ? 1u : 0u) << scheme;
        EXPECT_EQ(o.counters.details.count("remote_flush_requests"), agile ? 1u : 0u) << scheme;
        EXPECT_EQ(o.counters.details.at("ipis_sent"), 1u) << scheme;
        EXPECT_EQ(o.counters.details.at("ipis_received"), 1u) << scheme;
    }
}

// Hand count (tests/guests/smp_probe.c, "ipi"): 3 rounds of CPU 0 -> CPU 1 and CPU 1 -> CPU 0:
// 6 IPIs sent, 6 received, 6 EOIs (one per IPI handler), plus one EOI per timer tick taken.
// Port writes: 6 hypercalls (4 reports, start CPU 1, exit). So:
//   no APIC virtualization: ipi = 6 sends + 6 injections = 12; io = 6 + 6 EOIs + ticks;
//   features.apicv:         ipi = 6 (the senders' APIC-write exits); io = 6;
//   features.apicv + ipiv:  ipi = 0; io = 6.
TEST(SmpBackends, IpiAndEoiExitsUnderSlatAndAgileMatchTheHandCountWithAndWithoutApicv) {
    struct Case {
        std::vector<std::string> sets;
        uint64_t ipi;
        bool eoi_exits;
    };
    for (const char* scheme : {"slat", "agile"})
        for (const Case& c : {Case{{}, 12, true}, Case{{"features.apicv=true"}, 6, false},
                              Case{{"features.apicv=true", "features.ipiv=true"}, 0, false}}) {
            Observed o = run_with(scheme, "ipi", 1000, 2, c.sets);
            std::string what = std::string(scheme) + " " + ::testing::PrintToString(c.sets);
            ASSERT_EQ(o.result.stop, StopKind::Exited) << what << ": " << o.result.message;
            EXPECT_EQ(o.result.guest.ipis_sent, 6u) << what;
            EXPECT_EQ(o.result.guest.ipis_received, 6u) << what;
            uint64_t ticks = o.counters.exits[ExitReason::Timer];
            EXPECT_EQ(ticks, o.result.guest.timer_interrupts) << what;
            EXPECT_EQ(o.counters.exits[ExitReason::Ipi], c.ipi) << what;
            EXPECT_EQ(o.counters.exits[ExitReason::Io], 6u + (c.eoi_exits ? 6u + ticks : 0u))
                << what;
            EXPECT_EQ(o.counters.details.at("ipis_sent"), 6u) << what;
            EXPECT_EQ(o.counters.details.at("ipi_targets"), 6u) << what;
            EXPECT_EQ(o.counters.details.at("ipis_received"), 6u) << what;
        }
}

// An EPT change reaches every vCPU: after a copy-on-write break taken on CPU 0, CPU 1 (kicked:
// one remote_flush exit) walks again for a page its TLB held; without the change it hits.
TEST(SmpBackends, AnEptChangeFlushesTheOtherVcpusTlbForReal) {
    for (const char* scheme : {"slat", "agile"})
        for (bool change : {false, true}) {
            ProbeRun r(scheme, "stale");
            ASSERT_EQ(r.result.stop, StopKind::Exited) << scheme << ": " << r.result.message;
            // CPU 0 ran last; CPU 1 last read kPage (at frame b, after its own invlpg).
            const GuestVirt page(VMMU_USER_DATA_BASE + 0x9000);
            Inspector* in = r.b->inspector();
            ASSERT_NE(in, nullptr);
            std::vector<Ref1d> refs = guest_walk(r.m.memory(), in->guest_root(), page, 4);
            ASSERT_FALSE(refs.empty());
            GuestPhys pa(refs.back().entry & x86::kPteAddrMask);
            auto walks = [&] { return r.b->counters().walks.walks; };
            DataAccess read{page, pa, 8, false, true};
            r.b->on_vcpu_switch(1);
            uint64_t before = walks();
            r.b->on_access(read);
            EXPECT_EQ(walks(), before) << scheme << ": CPU 1's TLB holds the page";
            r.b->on_vcpu_switch(0);
            // The run's own (agile: the probe's page-table rewrite, tested above) set apart.
            BackendCounters before_change = r.b->counters();
            auto detail = [](const BackendCounters& c, const char* key) {
                return c.details.count(key) ? c.details.at(key) : 0;
            };
            if (change) r.b->on_host_remap(pa, HostRemap::BrokenByWrite);
            BackendCounters after_change = r.b->counters();
            r.b->on_vcpu_switch(1);
            before = walks();
            r.b->on_access(read);
            EXPECT_EQ(walks(), before + (change ? 1 : 0)) << scheme << " change " << change;
            EXPECT_EQ(after_change.exits[ExitReason::RemoteFlush] -
                          before_change.exits[ExitReason::RemoteFlush],
                      change ? 1u : 0u)
                << scheme;
            if (change) {
                for (const char* key : {"remote_flush_requests", "remote_flush_vcpus"})
                    EXPECT_EQ(detail(after_change, key) - detail(before_change, key), 1u)
                        << scheme << " " << key;
                EXPECT_GT(detail(after_change, "remote_flush_entries"),
                          detail(before_change, "remote_flush_entries"))
                    << scheme;
            }
        }
}

TEST(SmpBackends, SlatAndAgileCountersAreIdenticalOnRerunForEachVcpuCountAndQuantum) {
    for (const char* scheme : {"slat", "agile"})
        for (unsigned n : {2u, 4u})
            for (uint64_t q : {37u, 1000u}) {
                Observed a = run_with(scheme, "shootdown", q, n);
                Observed b = run_with(scheme, "shootdown", q, n);
                std::string what = fmt::format("{} vcpus {} quantum {}", scheme, n, q);
                ASSERT_EQ(a.result.stop, StopKind::Exited) << what << ": " << a.result.message;
                EXPECT_EQ(a.counters.exits.by_reason, b.counters.exits.by_reason) << what;
                EXPECT_EQ(a.counters.tlb.l1d_misses, b.counters.tlb.l1d_misses) << what;
                EXPECT_EQ(a.counters.walks.walks, b.counters.walks.walks) << what;
                EXPECT_EQ(a.counters.walks.refs, b.counters.walks.refs) << what;
                EXPECT_EQ(a.counters.details, b.counters.details) << what;
                EXPECT_EQ(a.result.guest.instructions, b.result.guest.instructions) << what;
            }
}

// The teaching kernel's shootdowns (munmapstorm: every munmap an IPI to the other CPUs running
// the address space) under slat and agile with the oracle on: the checksum is the one-vCPU one,
// every guest invlpg runs without an exit, the IPI exits are the IPIs sent plus those
// delivered, and every other port write, each EOI included, is an io exit.
TEST(SmpBackends, TheKernelsShootdownsUnderSlatAndAgileCostOnlyTheirIpis) {
    setenv("VMMU_GUEST_DIR", VMMU_GUEST_DIR, 1);
    setenv("VMMU_PROFILE_DIR", VMMU_SOURCE_DIR "/workloads/profiles", 1);
    auto run = [](unsigned vcpus) {
        RunOptions o;
        o.workload = "munmapstorm";
        o.params = {"threads=2", "rounds=20"};
        o.backends = {"slat", "agile"};
        o.guest_mib = 256;
        o.vcpus = vcpus;
        return execute_run(o);
    };
    RunOutput one = run(1), two = run(2);
    ASSERT_EQ(run_status(two.result), "ok") << two.result.message;
    EXPECT_EQ(test_results::checksum(two), test_results::checksum(one));
    EXPECT_GT(two.result.guest.ipis_sent, 0u);
    EXPECT_GT(two.result.guest.invlpgs, one.result.guest.invlpgs); // the targets' invlpgs
    for (const char* scheme : {"slat", "agile"}) {
        const BackendResult& b = test_results::find_backend(two.backends, scheme);
        const ExitCounters& e = b.counters.exits;
        EXPECT_EQ(e[ExitReason::Invlpg], 0u) << scheme;
        EXPECT_EQ(e[ExitReason::Ipi], two.result.guest.ipis_sent + two.result.guest.ipis_received)
            << scheme;
        EXPECT_EQ(test_results::detail(b, "ipis_sent"), two.result.guest.ipis_sent) << scheme;
        EXPECT_EQ(test_results::detail(b, "ipis_received"), two.result.guest.ipis_received)
            << scheme;
        // Every `out` is an io exit but the IPI sends (the EOIs included).
        EXPECT_EQ(e[ExitReason::Io], two.result.guest.io_writes - two.result.guest.ipis_sent)
            << scheme;
    }
    EXPECT_EQ(
        test_results::find_backend(two.backends, "slat").counters.exits[ExitReason::RemoteFlush],
        0u);
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
    Observed sync = run_with("shadow", "ptshare", 1000, 2, {}, true, {{"unsync", "0"}});
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
    Observed off = run_with("shadow", "stale", 1000, 2, {}, /*oracle=*/false);
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
