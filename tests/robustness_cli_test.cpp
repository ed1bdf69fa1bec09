// Bad command lines: each is rejected with exit code 2, the bad value named and the valid choices
// listed, before any guest runs.
#include "robustness_util.h"

namespace vmmu::robust {
namespace {

Outcome vmmu(const std::vector<std::string>& args) {
    return run_vmmu(args, scratch(::testing::UnitTest::GetInstance()->current_test_info()->name()));
}

TEST(RobustCommandLine, UnknownSubcommandListsTheSubcommands) {
    EXPECT_FAILS_WITH(vmmu({"frobnicate"}), 2, "unknown subcommand 'frobnicate'",
                      "valid subcommands:", "run", "list");
}

TEST(RobustCommandLine, MissingSubcommandListsTheSubcommands) {
    EXPECT_FAILS_WITH(vmmu({}), 2, "valid subcommands:", "run");
}

TEST(RobustCommandLine, UnknownFlagListsTheFlagsOfItsSubcommand) {
    EXPECT_FAILS_WITH(vmmu({"run", "--frob", "3"}), 2, "--frob",
                      "valid flags for 'vmmu run':", "--workload", "--max-instructions");
}

TEST(RobustCommandLine, UnknownNestedSubcommandListsItsSiblings) {
    EXPECT_FAILS_WITH(vmmu({"study", "frob"}), 2, "unknown subcommand 'frob'",
                      "valid subcommands of 'vmmu study': scaling");
}

TEST(RobustCommandLine, StudyRejectsMoreSessionsThanTheKernelHasProcessSlotsFor) {
    // 85 sessions need 3 * 85 + 2 = 257 processes; the guest kernel has 256 slots.
    EXPECT_FAILS_WITH(vmmu({"study", "scaling", "--sessions", "1,85"}), 2, "85 sessions",
                      "257 guest processes", "at most 84");
}

TEST(RobustCommandLine, UnknownHypervisorPersonalityListsTheValidOnes) {
    EXPECT_FAILS_WITH(vmmu({"run", "--hypervisor", "xen"}), 2, "--hypervisor 'xen'",
                      "none, kvm, hyperv");
}

TEST(RobustCommandLine, HypervPersonalityRefusesSlatOnAProfileWithoutEpt) {
    EXPECT_FAILS_WITH(vmmu({"run", "--hypervisor", "hyperv", "--profile", "penryn-2008"}), 2,
                      "--hypervisor hyperv with backend slat", "no EPT");
}

TEST(RobustCommandLine, HypervStudyPresetRefusesToBeTuned) {
    EXPECT_FAILS_WITH(
        vmmu({"study", "scaling", "--hyperv-2008-vs-r2", "--shadow-profile", "skylake-2015"}), 2,
        "--hyperv-2008-vs-r2 fixes the profiles");
    EXPECT_FAILS_WITH(vmmu({"study", "scaling", "--hyperv-2008-vs-r2", "--hypervisor", "kvm"}), 2,
                      "--hyperv-2008-vs-r2 with --hypervisor kvm");
}

TEST(RobustCommandLine, FlagWithoutItsValueIsNamed) {
    EXPECT_FAILS_WITH(vmmu({"run", "--workload"}), 2, "--workload");
}

TEST(RobustCommandLine, NonNumericNumberIsNamed) {
    EXPECT_FAILS_WITH(vmmu({"run", "--guest-mib", "lots"}), 2, "--guest-mib", "lots");
}

TEST(RobustCommandLine, UnknownWorkloadListsTheWorkloads) {
    EXPECT_FAILS_WITH(vmmu({"run", "--workload", "nosuch"}), 2, "unknown workload 'nosuch'",
                      "valid:", "hello", "gups");
}

TEST(RobustCommandLine, UnknownBackendListsTheBackends) {
    EXPECT_FAILS_WITH(vmmu({"run", "--workload", "hello", "--backends", "native,warp"}), 2,
                      "unknown backend 'warp'", "native", "shadow", "slat");
}

TEST(RobustCommandLine, UnknownProfileListsTheProfiles) {
    EXPECT_FAILS_WITH(vmmu({"run", "--workload", "hello", "--profile", "pentium-1993"}), 2,
                      "pentium-1993", "not found", "nehalem-2009");
}

TEST(RobustCommandLine, MissingProfileFileIsNamed) {
    EXPECT_FAILS_WITH(vmmu({"run", "--workload", "hello", "--profile", "/nonexistent/p.json"}), 2,
                      "/nonexistent/p.json", "cannot open");
}

TEST(RobustCommandLine, UnknownWorkloadParameterListsTheParameters) {
    EXPECT_FAILS_WITH(vmmu({"run", "--workload", "gups", "--param", "colour=3"}), 2, "colour=3",
                      "table_mib");
}

TEST(RobustCommandLine, NegativeWorkloadParameterIsRejected) {
    EXPECT_FAILS_WITH(vmmu({"run", "--workload", "gups", "--param", "updates=-5"}), 2, "updates",
                      "-5", "non-negative");
}

// Values the guest program would reject after booting (or could not run: 85 sessions need more
// process slots than the kernel has) fail before it boots, with the valid range.
TEST(RobustCommandLine, WorkloadParameterOutsideItsRangeIsRejected) {
    EXPECT_FAILS_WITH(vmmu({"run", "--workload", "gups", "--param", "table_mib=3"}), 2,
                      "table_mib=3", "power of two", "e.g. 2");
    EXPECT_FAILS_WITH(vmmu({"run", "--workload", "ctxswitch", "--param", "procs=49"}), 2,
                      "procs=49", "from 1 to 48");
    EXPECT_FAILS_WITH(vmmu({"run", "--workload", "sessions", "--param", "sessions=100"}), 2,
                      "sessions=100", "from 1 to 84");
}

TEST(RobustCommandLine, RepeatedWorkloadParameterIsRejected) {
    EXPECT_FAILS_WITH(
        vmmu({"run", "--workload", "gups", "--param", "updates=5", "--param", "updates=6"}), 2,
        "given twice", "updates=5", "updates=6");
}

TEST(RobustCommandLine, OnOffFlagNamesItsValidValues) {
    EXPECT_FAILS_WITH(vmmu({"run", "--workload", "hello", "--pwc", "maybe"}), 2, "--pwc 'maybe'",
                      "on, off");
}

TEST(RobustCommandLine, PageSizeFlagsNameTheirValidValues) {
    EXPECT_FAILS_WITH(vmmu({"run", "--workload", "hello", "--guest-pages", "1g"}), 2,
                      "--guest-pages '1g'", "4k, 2m");
    EXPECT_FAILS_WITH(vmmu({"run", "--workload", "hello", "--ept-pages", "3m"}), 2,
                      "--ept-pages '3m'", "4k, 2m, 1g");
}

TEST(RobustCommandLine, UnknownShadowOptionIsNamed) {
    EXPECT_FAILS_WITH(
        vmmu({"run", "--workload", "hello", "--backends", "shadow", "--shadow-opt", "magic=1"}), 2,
        "magic");
}

TEST(RobustCommandLine, ZeroTimerPeriodIsRejected) {
    EXPECT_FAILS_WITH(vmmu({"run", "--workload", "hello", "--timer-period", "0"}), 2,
                      "--timer-period", "at least 1");
}

TEST(RobustCommandLine, GuestMemoryOutOfRangeIsRejected) {
    EXPECT_FAILS_WITH(vmmu({"run", "--workload", "hello", "--guest-mib", "16"}), 2,
                      "--guest-mib 16", "from 64 to 65536");
    // Large enough to wrap around if it were turned into bytes first.
    EXPECT_FAILS_WITH(vmmu({"run", "--workload", "hello", "--guest-mib", "17592186044416"}), 2,
                      "--guest-mib 17592186044416", "64 GiB");
}

TEST(RobustCommandLine, GuestMemoryThatIsNotWholeLargePagesIsRejected) {
    EXPECT_FAILS_WITH(vmmu({"run", "--workload", "hello", "--guest-mib", "65"}), 2,
                      "--guest-mib 65", "even number", "2 MiB pages");
}

TEST(RobustCommandLine, ListStillWorks) {
    Outcome o = vmmu({"list"});
    EXPECT_EQ(o.code, 0) << o.err;
    EXPECT_TRUE(has(o.out, "gups")) << o.out;
}

// The shadow scheme's options come from the scheme itself, with their defaults and meaning.
TEST(RobustCommandLine, ListShowsEachSchemesOptionsWithDefaults) {
    Outcome o = vmmu({"list"});
    EXPECT_EQ(o.code, 0) << o.err;
    for (const char* key : {"unsync", "flood_threshold", "page_budget", "prev_roots"})
        EXPECT_TRUE(has(o.out, std::string("--shadow-opt ") + key)) << o.out;
    EXPECT_TRUE(has(o.out, "default 3")) << o.out;
    EXPECT_TRUE(has(o.out, "KVM mmu_unsync")) << o.out;
}

// An output that cannot be written fails before the guest runs, and leaves no temporary file.
TEST(RobustCommandLine, UnwritableOutputIsRejectedBeforeTheRun) {
    fs::path d = scratch("UnwritableOutput");
    EXPECT_FAILS_WITH(vmmu({"run", "--workload", "hello", "--json", d.string()}), 2,
                      "is a directory", "give a file name");
    EXPECT_FAILS_WITH(vmmu({"run", "--workload", "hello", "--json", ""}), 2, "--json",
                      "needs a path");
    EXPECT_FAILS_WITH(vmmu({"validate", "--json", ""}), 2, "--json", "needs a path");
    EXPECT_FAILS_WITH(vmmu({"study", "scaling", "--out", ""}), 2, "--out", "needs a path");
    std::ofstream(d / "file") << "x";
    EXPECT_FAILS_WITH(vmmu({"run", "--workload", "hello", "--json", (d / "x.json").string() + "/"}),
                      2, "ends in a '/'");
    fs::path under_file = d / "file" / "x.json";
    EXPECT_FAILS_WITH(vmmu({"run", "--workload", "hello", "--json", under_file.string()}), 2,
                      "cannot create the directory");
    EXPECT_FAILS_WITH(vmmu({"study", "scaling", "--sessions", "1", "--out", (d / "file").string()}),
                      2, "is a file, not a directory");
    for (auto& e : fs::directory_iterator(d))
        EXPECT_EQ(e.path().filename(), "file") << "left behind: " << e.path();
}

} // namespace
} // namespace vmmu::robust
