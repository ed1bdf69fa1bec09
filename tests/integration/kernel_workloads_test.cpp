// End-to-end runs of the teaching kernel and its programs on the engine: each program at a small
// size, checked against what its parameters imply (processes created, faults, switches) and for
// run-to-run determinism. No MMU backend is attached: these test the guest, not the models.
#include "engine/core/machine.h"
#include "tests/integration/kernel_config.h"
#include "vmmu/abi.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

namespace vmmu {
namespace {

RunResult boot(const std::string& cmdline, uint64_t flags = 0, unsigned vcpus = 1) {
    MachineConfig c = testing::kernel_config(cmdline);
    c.boot_flags = flags;
    c.vcpus = vcpus;
    c.max_instructions = 2'000'000'000; // a hung guest fails instead of running forever
    Machine m(c);
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
    EXPECT_EQ(key(r, "kernel.pf_fatal"), 0u);
    EXPECT_EQ(key(r, "kernel.killed"), 0u);
}

TEST(KernelWorkloads, HelloBootsRunsAndShutsDown) {
    RunResult r = boot("hello");
    expect_clean_exit(r);
    EXPECT_EQ(key(r, "hello.ok"), 1u);
    EXPECT_EQ(key(r, "init.programs"), 1u);
    // init, then init forks hello's process, which execs hello.
    EXPECT_EQ(key(r, "kernel.processes_created"), 2u);
    EXPECT_EQ(key(r, "kernel.forks"), 1u);
    EXPECT_EQ(key(r, "kernel.execs"), 2u);
    EXPECT_EQ(key(r, "kernel.exits"), 1u);
    EXPECT_NE(r.console.find("hello from the vmmu guest"), std::string::npos);
}

TEST(KernelWorkloads, ForkwaitCreatesOneChildPerIteration) {
    RunResult r = boot("forkwait n=100");
    expect_clean_exit(r);
    EXPECT_EQ(key(r, "forkwait.ok"), 1u);
    EXPECT_EQ(key(r, "kernel.forks"), 101u); // init's fork for forkwait, then 100
    EXPECT_EQ(key(r, "kernel.processes_created"), 102u);
    EXPECT_EQ(key(r, "kernel.exits"), 101u);
    // Each child writes a page it shares with its parent: at least one copy per child.
    EXPECT_GE(key(r, "kernel.cow_copy"), 100u);
    // Parent to child and back, every iteration.
    EXPECT_GE(key(r, "kernel.context_switches"), 200u);
    EXPECT_GE(r.guest.page_faults, 100u);
}

TEST(KernelWorkloads, ForkwaitLeaksNoFrames) {
    // Every child's frames and page tables come back: the frames in use at shutdown do not
    // depend on how many children came and went.
    RunResult a = boot("forkwait n=10");
    RunResult b = boot("forkwait n=60");
    expect_clean_exit(a);
    expect_clean_exit(b);
    EXPECT_EQ(key(a, "kernel.frames_in_use"), key(b, "kernel.frames_in_use"));
}

TEST(KernelWorkloads, RepeatedRunsAreIdentical) {
    RunResult a = boot("forkwait n=30 ; mmapchurn rounds=5 region_kib=64");
    RunResult b = boot("forkwait n=30 ; mmapchurn rounds=5 region_kib=64");
    expect_clean_exit(a);
    EXPECT_EQ(a.reported, b.reported);
    EXPECT_EQ(a.guest.instructions, b.guest.instructions);
    EXPECT_EQ(a.guest.page_faults, b.guest.page_faults);
    EXPECT_EQ(a.console, b.console);
}

TEST(KernelWorkloads, CtxswitchSwitchesOncePerHandoff) {
    RunResult r = boot("ctxswitch rounds=300 procs=3");
    expect_clean_exit(r);
    EXPECT_EQ(key(r, "ctxswitch.ok"), 1u);
    EXPECT_EQ(key(r, "ctxswitch.handoffs"), 900u);
    EXPECT_EQ(key(r, "kernel.processes_created"), 5u); // init, ctxswitch, 3 ring members
    EXPECT_GE(key(r, "kernel.context_switches"), 900u);
    EXPECT_GE(key(r, "kernel.cr3_loads"), 900u);
}

TEST(KernelWorkloads, GupsTouchesEveryTablePageAndVerifies) {
    RunResult r = boot("gups table_mib=4 updates=20000");
    expect_clean_exit(r);
    EXPECT_EQ(key(r, "gups.ok"), 1u);
    EXPECT_EQ(key(r, "gups.errors"), 0u);
    EXPECT_GE(key(r, "kernel.pf_demand_zero"), 1024u); // 4 MiB of 4 KiB pages
    EXPECT_EQ(key(r, "kernel.pf_demand_zero_2m"), 0u);
}

TEST(KernelWorkloads, GupsOn2MPagesTakesHugeFaultsAndSameChecksum) {
    RunResult small = boot("gups table_mib=8 updates=20000");
    RunResult huge = boot("gups table_mib=8 updates=20000", VMMU_BOOT_FLAG_GUEST_2M);
    expect_clean_exit(small);
    expect_clean_exit(huge);
    EXPECT_EQ(key(huge, "gups.ok"), 1u);
    // 8 MiB plus the allocator's header page: four whole 2 MiB blocks.
    EXPECT_EQ(key(huge, "kernel.pf_demand_zero_2m"), 4u);
    EXPECT_LT(key(huge, "kernel.pf_demand_zero"), 64u);
    EXPECT_EQ(key(small, "gups.checksum"), key(huge, "gups.checksum"));
}

TEST(KernelWorkloads, StreamChecksEveryElement) {
    RunResult r = boot("stream array_mib=1 iterations=2");
    expect_clean_exit(r);
    EXPECT_EQ(key(r, "stream.ok"), 1u);
    EXPECT_EQ(key(r, "stream.errors"), 0u);
    EXPECT_GE(key(r, "kernel.pf_demand_zero"), 3u * 256u); // three 1 MiB arrays
}

TEST(KernelWorkloads, MmapchurnFaultsAndUnmapsEveryPage) {
    RunResult r = boot("mmapchurn rounds=20 region_kib=64");
    expect_clean_exit(r);
    EXPECT_EQ(key(r, "mmapchurn.ok"), 1u);
    EXPECT_EQ(key(r, "mmapchurn.pages_touched"), 320u);
    EXPECT_GE(key(r, "kernel.pf_demand_zero"), 320u);
    EXPECT_GE(key(r, "kernel.invlpgs"), 320u); // every unmapped page is flushed
    EXPECT_GE(r.guest.invlpgs, 320u);
}

TEST(KernelWorkloads, SessionsLaunchesEveryApplication) {
    RunResult r =
        boot("sessions sessions=2 actions=2 ws_mib=1 think_ticks=2 bursts=2 burst_updates=1000");
    expect_clean_exit(r);
    EXPECT_EQ(key(r, "sessions.ok"), 1u);
    EXPECT_EQ(key(r, "sessions.apps"), 4u);
    EXPECT_EQ(key(r, "sessions.failures"), 0u);
    // init; sessions; 2 logins; 4 applications, each with a helper.
    EXPECT_EQ(key(r, "kernel.processes_created"), 12u);
    EXPECT_EQ(key(r, "kernel.forks"), 11u);
    EXPECT_EQ(key(r, "kernel.execs"), 8u); // init, sessions, 2 logins, 4 applications
    EXPECT_GE(key(r, "kernel.pf_demand_zero"), 4u * 256u);
    EXPECT_GE(key(r, "kernel.idle_halts"), 1u); // everyone thinking at once: the CPU halts
}

TEST(KernelWorkloads, ThreadsShareOneTableAndVerify) {
    RunResult r = boot("threads threads=3 table_mib=2 updates=30000");
    expect_clean_exit(r);
    EXPECT_EQ(key(r, "threads.ok"), 1u);
    EXPECT_EQ(key(r, "threads.errors"), 0u);
    EXPECT_EQ(key(r, "kernel.threads"), 6u); // three per pass, two passes
    // init, threads; the threads are processes too (clone), but share one address space: the
    // table is faulted in once, by the main thread.
    EXPECT_EQ(key(r, "kernel.processes_created"), 8u);
    EXPECT_GE(key(r, "kernel.pf_demand_zero"), 512u);
    EXPECT_LT(key(r, "kernel.pf_demand_zero"), 600u);
    EXPECT_EQ(key(r, "kernel.cpus"), 1u);
    EXPECT_EQ(key(r, "kernel.shootdowns"), 0u); // one CPU: nobody else to ask
}

TEST(KernelWorkloads, ThreadsChecksumFollowsTheThreadCount) {
    // Each thread runs its own update stream, so the thread count (a parameter) changes the
    // checksum; the CPU count must not (tested with several vCPUs below).
    RunResult a = boot("threads threads=1 table_mib=1 updates=5000");
    RunResult b = boot("threads threads=4 table_mib=1 updates=5000");
    expect_clean_exit(a);
    expect_clean_exit(b);
    EXPECT_EQ(key(a, "threads.ok"), 1u);
    EXPECT_EQ(key(b, "threads.ok"), 1u);
    EXPECT_NE(key(a, "threads.checksum"), key(b, "threads.checksum")); // four streams, not one
}

TEST(KernelWorkloads, MunmapstormChurnsInEveryThread) {
    RunResult r = boot("munmapstorm threads=3 rounds=10 region_kib=64");
    expect_clean_exit(r);
    EXPECT_EQ(key(r, "munmapstorm.ok"), 1u);
    EXPECT_EQ(key(r, "munmapstorm.pages_touched"), 3u * 10u * 16u);
    EXPECT_EQ(key(r, "kernel.threads"), 3u);
    EXPECT_GE(key(r, "kernel.pf_demand_zero"), 480u);
    EXPECT_GE(key(r, "kernel.invlpgs"), 480u); // every unmapped page is flushed here
}

TEST(KernelWorkloads, CommandLineRunsProgramsInSequenceAndSideBySide) {
    RunResult r = boot("hello ; hello & hello");
    expect_clean_exit(r);
    EXPECT_EQ(key(r, "init.programs"), 3u);
    EXPECT_EQ(key(r, "init.failed"), 0u);
    EXPECT_EQ(key(r, "kernel.processes_created"), 4u);
}

TEST(KernelWorkloads, UnknownProgramFailsTheRun) {
    RunResult r = boot("nosuchprogram");
    ASSERT_EQ(r.stop, StopKind::Exited) << r.message;
    EXPECT_EQ(r.exit_status, 1);
    EXPECT_EQ(key(r, "init.failed"), 1u);
}

TEST(KernelWorkloads, MisspeltParameterFailsTheRun) {
    RunResult r = boot("gups table_mb=4");
    ASSERT_EQ(r.stop, StopKind::Exited) << r.message;
    EXPECT_EQ(r.exit_status, 1);
    EXPECT_NE(r.console.find("unknown argument 'table_mb=4'"), std::string::npos) << r.console;
}

} // namespace
} // namespace vmmu
