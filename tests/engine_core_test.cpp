// The engine core on small hand-written guests (tests/guests/probe.c): each test boots the probe
// kernel with one command-line word and checks what the guest reported and what the engine saw.
#include "engine/core/machine.h"
#include "tests/recording_observer.h"
#include "vmmu/abi.h"

#include <gtest/gtest.h>

namespace vmmu {
namespace {

MachineConfig probe_config(const std::string& cmd) {
    MachineConfig c;
    c.kernel_path = VMMU_GUEST_DIR "/tests/probe.elf";
    c.cmdline = cmd;
    c.guest_bytes = uint64_t{64} << 20;
    c.timer_period = 1'000'000;
    c.max_instructions = 50'000'000;
    return c;
}

RunResult run_probe(const std::string& cmd, MachineConfig c) {
    c.cmdline = cmd;
    Machine m(c);
    return m.run();
}
RunResult run_probe(const std::string& cmd) { return run_probe(cmd, probe_config(cmd)); }

TEST(EngineCore, MmioWriteLandsAtThePteGpaNotAtTheVa) {
    MachineConfig c = probe_config("mmio");
    Machine m(c);
    RunResult r = m.run();
    ASSERT_EQ(r.stop, StopKind::Exited) << r.message;
    EXPECT_EQ(r.reported.at("mmio.via_direct_map"), 0x1122334455667788ull);
    uint64_t gpa = r.reported.at("mmio.gpa");
    EXPECT_EQ(m.memory().read_u64(GuestPhys(gpa + 8)), 0x1122334455667788ull);
    EXPECT_NE(gpa, (VMMU_USER_DATA_BASE + 0x5000) % m.memory().size());
}

TEST(EngineCore, AccessBeyondGuestMemoryStopsAsAnUnbackedEptViolation) {
    RunResult r = run_probe("beyond");
    EXPECT_EQ(r.stop, StopKind::UnbackedMemory) << r.message;
    EXPECT_NE(r.message.find("beyond the VM's 64 MiB"), std::string::npos) << r.message;
    EXPECT_NE(r.message.find("0x100000000"), std::string::npos) << r.message;
    EXPECT_EQ(r.reported.count("beyond.value"), 0u) << "the guest went on after the access";
}

TEST(EngineCore, HundredPageFaultsEachArriveAsPageFaultNeverDoubleFault) {
    RunResult r = run_probe("faults");
    ASSERT_EQ(r.stop, StopKind::Exited) << r.message;
    EXPECT_EQ(r.reported.at("faults.demand"), 100u);
    EXPECT_EQ(r.reported.at("faults.total"), 103u);
    EXPECT_EQ(r.guest.page_faults, 103u);
    EXPECT_FALSE(r.reported.count("unexpected.vector"));
}

TEST(EngineCore, PageFaultErrorCodesFollowTheSdm) {
    RunResult r = run_probe("faults");
    ASSERT_EQ(r.stop, StopKind::Exited) << r.message;
    EXPECT_EQ(r.reported.at("faults.read_error"), 0u);    // read, not present
    EXPECT_EQ(r.reported.at("faults.write_error"), 2u);   // write, not present
    EXPECT_EQ(r.reported.at("faults.read_np_error"), 0u); // read, not present
    EXPECT_EQ(r.reported.at("faults.protect_error"), 3u); // write, present (protection)
    EXPECT_EQ(r.reported.at("faults.cr2"), VMMU_USER_DATA_BASE + 0x100000 + 300 * 4096);
}

TEST(EngineCore, SyscallEntersLstarWithRcxAndR11AsTheSdmSays) {
    RunResult r = run_probe("syscall");
    ASSERT_EQ(r.stop, StopKind::Exited) << r.message;
    EXPECT_EQ(r.reported.at("syscall.ret"), 42u);
    EXPECT_EQ(r.reported.at("syscall.rcx_ok"), 1u);
    EXPECT_EQ(r.reported.at("syscall.r11"), r.reported.at("syscall.flags_before"));
    EXPECT_EQ(r.guest.syscalls, 1u);
}

TEST(EngineCore, TimerTickArrivesAfterExactlyNInstructions) {
    // The probe spins on "inc rcx; jmp" after sti: moving the period by one instruction moves
    // the interrupted RIP between the two instructions, and by two advances rcx by one.
    std::vector<RunResult> runs;
    for (uint64_t n = 20000; n < 20004; ++n) {
        MachineConfig c = probe_config("timer");
        c.timer_period = n;
        runs.push_back(run_probe("timer", c));
        ASSERT_EQ(runs.back().stop, StopKind::Exited) << runs.back().message;
    }
    for (size_t i = 0; i + 1 < runs.size(); ++i)
        EXPECT_NE(runs[i].reported.at("timer.rip"), runs[i + 1].reported.at("timer.rip"));
    for (size_t i = 0; i + 2 < runs.size(); ++i) {
        EXPECT_EQ(runs[i].reported.at("timer.rip"), runs[i + 2].reported.at("timer.rip"));
        EXPECT_EQ(runs[i].reported.at("timer.rcx") + 1, runs[i + 2].reported.at("timer.rcx"));
    }
    EXPECT_EQ(runs[0].guest.timer_interrupts, 1u);
}

TEST(EngineCore, TicksMissedWithInterruptsOffArriveOnceInterruptsAreOn) {
    MachineConfig c = probe_config("late");
    c.timer_period = 1000; // the probe keeps IF=0 for ~15 periods
    RunResult r = run_probe("late", c);
    ASSERT_EQ(r.stop, StopKind::Exited) << r.message;
    EXPECT_EQ(r.guest.timer_interrupts, 1u);
    EXPECT_GT(r.guest.instructions, 10 * c.timer_period);
}

TEST(EngineCore, SensitiveInstructionsProduceEventsWithTheirOperands) {
    MachineConfig c = probe_config("events");
    Machine m(c);
    testing::RecordingObserver recorder;
    m.attach(recorder);
    RunResult r = m.run();
    ASSERT_EQ(r.stop, StopKind::Exited) << r.message;
    bool cr3 = false, invlpg = false;
    for (auto& e : recorder.events) {
        if (e.kind == "cr3" && e.value == r.reported.at("events.cr3")) cr3 = true;
        if (e.kind == "invlpg" && e.value == r.reported.at("events.invlpg")) invlpg = true;
    }
    EXPECT_TRUE(cr3);
    EXPECT_TRUE(invlpg);
    EXPECT_EQ(r.guest.cr3_writes, 1u);
    // Every retired instruction was fetched in a block; the last block may stop part-way.
    EXPECT_GE(recorder.fetched_instructions, r.guest.instructions);
    EXPECT_LE(recorder.fetched_instructions, r.guest.instructions + 16);
}

TEST(EngineCore, KernelFaultWithoutHandlerIsDiagnosed) {
    RunResult r = run_probe("ud");
    EXPECT_EQ(r.stop, StopKind::GuestFault);
    EXPECT_NE(r.message.find("vector 6"), std::string::npos) << r.message;
    EXPECT_NE(r.instruction.find("ud2"), std::string::npos) << r.instruction;
    EXPECT_EQ(r.symbol.rfind("kmain", 0), 0u) << r.symbol;
}

TEST(EngineCore, PanicHypercallStopsTheRunWithTheMessage) {
    RunResult r = run_probe("panic");
    EXPECT_EQ(r.stop, StopKind::Panic);
    EXPECT_NE(r.message.find("probe panic"), std::string::npos) << r.message;
}

TEST(EngineCore, InstructionBudgetStopsASpinningGuest) {
    MachineConfig c = probe_config("spin");
    c.max_instructions = 100000;
    RunResult r = run_probe("spin", c);
    EXPECT_EQ(r.stop, StopKind::Budget);
    EXPECT_GE(r.guest.instructions, 100000u);
    EXPECT_LT(r.guest.instructions, 100100u);
}

TEST(EngineCore, HltIdlesUntilTheNextTick) {
    RunResult r = run_probe("idle");
    ASSERT_EQ(r.stop, StopKind::Exited) << r.message;
    EXPECT_EQ(r.guest.timer_interrupts, 1u);
    EXPECT_EQ(r.guest.idle_ticks, 1u);
    EXPECT_LT(r.guest.instructions, 1'000'000u);
}

TEST(EngineCore, RunningInQuantaChangesNothingTheGuestSees) {
    MachineConfig c = probe_config("faults");
    RunResult whole = run_probe("faults", c);
    Machine m(c);
    RunResult r;
    int slices = 0;
    do {
        r = m.run_for(5000);
        ++slices;
        ASSERT_LE(r.guest.instructions, whole.guest.instructions + 64);
    } while (r.stop == StopKind::Quantum);
    ASSERT_EQ(r.stop, StopKind::Exited) << r.message;
    EXPECT_GT(slices, 10);
    EXPECT_TRUE(m.finished());
    EXPECT_EQ(r.guest.instructions, whole.guest.instructions);
    EXPECT_EQ(r.guest.data_accesses, whole.guest.data_accesses);
    EXPECT_EQ(r.reported, whole.reported);
}

TEST(EngineCore, StoppingBeforeABlockLosesNoWork) {
    // A one-store loop cut into quanta of odd sizes: every stop lands before some block, and
    // the memory total shows any iteration lost or done twice on resumption.
    MachineConfig c = probe_config("count");
    for (uint64_t q : {0ull, 5000ull, 777ull}) {
        Machine m(c);
        RunResult r;
        do {
            r = q ? m.run_for(q) : m.run();
        } while (r.stop == StopKind::Quantum);
        ASSERT_EQ(r.stop, StopKind::Exited) << r.message;
        EXPECT_EQ(r.reported.at("count.total"), 100000u) << "quantum " << q;
    }
}

TEST(EngineCore, AQuantumEndsAtTheFirstBlockPastIt) {
    // The block hook counts most blocks on a fast path that skips its checks up to a
    // precomputed end; each quantum must still end before the first block that starts at or
    // past it, so a slice overshoots by less than one block (TCG: at most 512 instructions).
    for (uint64_t q : {777ull, 5000ull, 100003ull}) {
        Machine m(probe_config("count"));
        RunResult r;
        uint64_t start = 0;
        int slices = 0;
        do {
            r = m.run_for(q);
            if (r.stop != StopKind::Quantum) break;
            EXPECT_GE(r.guest.instructions, start + q) << "quantum " << q;
            EXPECT_LT(r.guest.instructions, start + q + 512) << "quantum " << q;
            start = r.guest.instructions;
            ++slices;
        } while (true);
        ASSERT_EQ(r.stop, StopKind::Exited) << r.message;
        EXPECT_GT(slices, 2) << "quantum " << q;
    }
}

TEST(EngineCore, SameGuestGivesSameCountersEveryRun) {
    RunResult a = run_probe("faults"), b = run_probe("faults");
    EXPECT_EQ(a.guest.instructions, b.guest.instructions);
    EXPECT_EQ(a.guest.data_accesses, b.guest.data_accesses);
    EXPECT_EQ(a.guest.blocks, b.guest.blocks);
    EXPECT_EQ(a.reported, b.reported);
}

} // namespace
} // namespace vmmu
