// Several vCPUs per VM on a hand-written two-CPU guest (tests/guests/smp_probe.c): starting an
// AP, IPIs and EOIs through the APIC port, per-vCPU TLBs (a skipped shootdown reads a stale
// translation), per-vCPU timers, deterministic interleaving, and the guest errors.
#include "engine/core/machine.h"
#include "vmmu/abi.h"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <string>
#include <vector>

namespace vmmu {
namespace {

MachineConfig smp_config(const std::string& cmd, unsigned vcpus = 2, uint64_t quantum = 1000) {
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

RunResult run_smp(const MachineConfig& c) {
    Machine m(c);
    return m.run();
}

uint64_t rep(const RunResult& r, const std::string& key) {
    auto it = r.reported.find(key);
    EXPECT_NE(it, r.reported.end()) << "no report " << key << "\n" << r.message;
    return it == r.reported.end() ? UINT64_MAX : it->second;
}

TEST(Smp, BootInfoCarriesTheVcpuCountAndTheApStartsWithItsIndex) {
    RunResult r = run_smp(smp_config("ipi", 3));
    ASSERT_EQ(r.stop, StopKind::Exited) << r.message;
    EXPECT_EQ(rep(r, "boot.ncpus"), 3u);
    EXPECT_EQ(rep(r, "ap.index"), 1u);
}

TEST(Smp, IpisGoBothWaysAndAreCountedPerSenderAndReceiver) {
    RunResult r = run_smp(smp_config("ipi"));
    ASSERT_EQ(r.stop, StopKind::Exited) << r.message;
    EXPECT_EQ(rep(r, "ipi.cpu0"), 3u);
    EXPECT_EQ(rep(r, "ipi.cpu1"), 3u);
    // Hand count: 3 rounds of one IPI each way.
    EXPECT_EQ(r.guest.ipis_sent, 6u);
    EXPECT_EQ(r.guest.ipis_received, 6u);
}

// Sees the APIC events with the vCPU that runs when each arrives.
struct ApicRecorder : GuestObserver {
    unsigned running = 0;
    std::vector<std::string> sends, receives;
    uint64_t eois = 0, apic_port_writes = 0;
    bool models_vcpus() const override { return true; }
    void on_vcpu_switch(unsigned index) override { running = index; }
    void on_ipi_send(uint64_t, uint16_t, uint8_t vector, uint32_t dests) override {
        sends.push_back(fmt::format("{}->{:#x} v{:#x}", running, dests, vector));
    }
    void on_ipi_receive(uint64_t, uint8_t vector) override {
        receives.push_back(fmt::format("{} v{:#x}", running, vector));
    }
    void on_eoi(uint64_t, uint16_t) override { ++eois; }
    void on_io(uint64_t, uint16_t port, bool) override {
        apic_port_writes += port == VMMU_PORT_APIC;
    }
};

TEST(Smp, ObserversSeeEachIpiSentWithItsTargetsAndReceivedOnItsTarget) {
    MachineConfig c = smp_config("ipi");
    Machine m(c);
    ApicRecorder rec;
    m.attach(rec);
    RunResult r = m.run();
    ASSERT_EQ(r.stop, StopKind::Exited) << r.message;
    // Hand count (tests/guests/smp_probe.c "ipi"): 3 rounds of CPU 0 -> CPU 1 (resched), answered
    // CPU 1 -> CPU 0 (call); each receiver ends its interrupt.
    std::vector<std::string> sends, receives;
    for (int round = 0; round < 3; ++round) {
        sends.push_back(fmt::format("0->0x2 v{:#x}", VMMU_VEC_IPI_RESCHED));
        sends.push_back(fmt::format("1->0x1 v{:#x}", VMMU_VEC_IPI_CALL));
        receives.push_back(fmt::format("1 v{:#x}", VMMU_VEC_IPI_RESCHED));
        receives.push_back(fmt::format("0 v{:#x}", VMMU_VEC_IPI_CALL));
    }
    EXPECT_EQ(rec.sends, sends);
    EXPECT_EQ(rec.receives, receives);
    EXPECT_EQ(rec.eois, 6u + r.guest.timer_interrupts); // every IPI and every tick
    EXPECT_EQ(rec.apic_port_writes, 0u);                // the APIC events replace the port write
}

TEST(Smp, ASkippedShootdownLeavesTheOtherVcpuWithAStaleTranslation) {
    RunResult r = run_smp(smp_config("stale"));
    ASSERT_EQ(r.stop, StopKind::Exited) << r.message;
    EXPECT_EQ(rep(r, "stale.cpu0_first"), 111u);
    EXPECT_EQ(rep(r, "stale.cpu1_first"), 111u);
    EXPECT_EQ(rep(r, "stale.cpu0_second"), 222u); // CPU 0 flushed its own TLB
    EXPECT_EQ(rep(r, "stale.cpu1_second"), 111u); // CPU 1's TLB still holds the old frame
    EXPECT_EQ(rep(r, "stale.cpu1_flushed"), 222u);
    EXPECT_EQ(rep(r, "stale.acks"), 0u);
}

TEST(Smp, AShootdownByIpiReachesTheOtherVcpu) {
    RunResult r = run_smp(smp_config("shootdown"));
    ASSERT_EQ(r.stop, StopKind::Exited) << r.message;
    EXPECT_EQ(rep(r, "stale.cpu1_second"), 222u);
    EXPECT_EQ(rep(r, "stale.acks"), 1u);
    EXPECT_EQ(r.guest.ipis_sent, 1u);
    EXPECT_EQ(r.guest.ipis_received, 1u);
}

// Hyper-V's remote flush: CPU 0 names CPU 1 in HvFlushVirtualAddressList and sends no IPI. The
// engine flushes CPU 1's functional TLB before it runs again, so CPU 1 reads the new frame (with
// that flush skipped it reads 111, as in the test above).
TEST(Smp, AHyperVFlushHypercallNamingTheOtherVcpuFlushesItsTlb) {
    MachineConfig c = smp_config("hvflush");
    c.hypervisor = Hypervisor::HyperV;
    RunResult r = run_smp(c);
    ASSERT_EQ(r.stop, StopKind::Exited) << r.message;
    EXPECT_EQ(rep(r, "hvflush.status"), 0u);
    EXPECT_EQ(rep(r, "hvflush.reps"), 1u);
    EXPECT_EQ(rep(r, "stale.cpu0_second"), 222u);
    EXPECT_EQ(rep(r, "stale.cpu1_second"), 222u);
    EXPECT_EQ(rep(r, "stale.acks"), 0u);
    EXPECT_EQ(r.guest.ipis_sent, 0u);
    // Without the personality the call code is invalid and CPU 1 keeps the stale frame.
    RunResult plain = run_smp(smp_config("hvflush"));
    ASSERT_EQ(plain.stop, StopKind::Exited) << plain.message;
    EXPECT_EQ(rep(plain, "hvflush.status"), VMMU_HV_STATUS_INVALID_CODE);
    EXPECT_EQ(rep(plain, "stale.cpu1_second"), 111u);
}

TEST(Smp, EachVcpuTakesItsOwnTimerTicksWhileTheOtherHalts) {
    RunResult r = run_smp(smp_config("ticks"));
    ASSERT_EQ(r.stop, StopKind::Exited) << r.message;
    EXPECT_GE(rep(r, "ticks.cpu0"), 3u);
    EXPECT_GE(rep(r, "ticks.cpu1"), 3u);
    EXPECT_EQ(r.guest.timer_interrupts, rep(r, "ticks.cpu0") + rep(r, "ticks.cpu1"));
}

TEST(Smp, RerunsAreBitIdenticalForEveryQuantumAndCount) {
    for (unsigned n : {2u, 4u, 8u})
        for (uint64_t q : {1u, 100u, 10'000u}) {
            RunResult a = run_smp(smp_config("shootdown", n, q));
            RunResult b = run_smp(smp_config("shootdown", n, q));
            ASSERT_EQ(a.stop, StopKind::Exited) << n << " " << q << ": " << a.message;
            EXPECT_EQ(a.guest.instructions, b.guest.instructions) << n << " " << q;
            EXPECT_EQ(a.guest.blocks, b.guest.blocks);
            EXPECT_EQ(a.guest.data_accesses, b.guest.data_accesses);
            EXPECT_EQ(a.reported, b.reported);
            EXPECT_EQ(rep(a, "stale.cpu1_second"), 222u);
        }
}

TEST(Smp, AKernelThatStartsNoApRunsExactlyAsOnOneVcpu) {
    // The single-CPU probe kernel (tests/guests/probe.c): faults, a late tick, an idle halt.
    for (const char* cmd : {"faults", "late", "count", "idle"}) {
        MachineConfig one;
        one.kernel_path = VMMU_GUEST_DIR "/tests/probe.elf";
        one.cmdline = cmd;
        one.guest_bytes = uint64_t{64} << 20;
        one.timer_period = 1000;
        one.max_instructions = 5'000'000;
        MachineConfig four = one;
        four.vcpus = 4;
        four.vcpu_quantum = 7;
        RunResult a = run_smp(one), b = run_smp(four);
        EXPECT_EQ(a.stop, b.stop) << cmd;
        EXPECT_EQ(a.guest.instructions, b.guest.instructions) << cmd;
        EXPECT_EQ(a.guest.blocks, b.guest.blocks) << cmd;
        EXPECT_EQ(a.guest.data_accesses, b.guest.data_accesses) << cmd;
        EXPECT_EQ(a.guest.timer_interrupts, b.guest.timer_interrupts) << cmd;
        EXPECT_EQ(a.guest.idle_ticks, b.guest.idle_ticks) << cmd;
        EXPECT_EQ(a.reported, b.reported) << cmd;
    }
}

TEST(Smp, ApsParkedWithInterruptsOffLetTheOthersFinish) {
    // "work": each AP computes its share, then `cli; hlt` for good; CPU 0 finishes the run.
    for (unsigned n : {1u, 2u, 4u, 8u}) {
        MachineConfig c = smp_config("work", n, 10'000);
        c.max_instructions = 0;
        RunResult r = run_smp(c);
        EXPECT_EQ(r.stop, StopKind::Exited) << n << ": " << r.message;
    }
}

TEST(Smp, TheBudgetCountsEveryVcpu) {
    MachineConfig c = smp_config("work", 4, 1000);
    c.max_instructions = 100'000;
    RunResult r = run_smp(c);
    EXPECT_EQ(r.stop, StopKind::Budget) << r.message;
    EXPECT_GE(r.guest.instructions, 100'000u);
    EXPECT_LT(r.guest.instructions, 100'100u);
}

TEST(Smp, StartingAnApTwiceIsAGuestError) {
    RunResult r = run_smp(smp_config("twice"));
    EXPECT_EQ(r.stop, StopKind::GuestFault);
    EXPECT_NE(r.message.find("started already"), std::string::npos) << r.message;
}

TEST(Smp, StartingACpuBeyondTheCountIsAGuestErrorNamingTheCount) {
    RunResult r = run_smp(smp_config("nocpu"));
    EXPECT_EQ(r.stop, StopKind::GuestFault);
    EXPECT_NE(r.message.find("CPUs 0 to 1 (--vcpus 2)"), std::string::npos) << r.message;
}

TEST(Smp, OneVcpuRefusesToStartAnother) {
    RunResult r = run_smp(smp_config("ipi", 1));
    EXPECT_EQ(r.stop, StopKind::GuestFault);
    EXPECT_NE(r.message.find("CPUs 0 to 0 (--vcpus 1)"), std::string::npos) << r.message;
}

TEST(Smp, TheMachineRejectsABadCountOrQuantum) {
    EXPECT_THROW(Machine(smp_config("ipi", 0)), std::invalid_argument);
    EXPECT_THROW(Machine(smp_config("ipi", 9)), std::invalid_argument);
    EXPECT_THROW(Machine(smp_config("ipi", 2, 0)), std::invalid_argument);
}

} // namespace
} // namespace vmmu
