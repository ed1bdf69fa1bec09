// Commands that start several runs (study, density, sweep) check every option of every run with
// `vmmu run`'s own rules before the first starts: bad input exits 2 and nothing runs. Also the
// command line's own help: --version, `vmmu help`, and a near miss of a flag.
#include "robustness_util.h"

#include <nlohmann/json.hpp>

namespace vmmu::robust {
namespace {

Outcome upfront_vmmu(const std::vector<std::string>& args) {
    return run_vmmu(args, scratch(test_name()));
}

fs::path upfront_spec(const std::string& name, const std::string& flags,
                      const std::string& params) {
    fs::path d = scratch(test_name() + "." + name);
    write_text(d / "spec.json",
               R"({"schema": "vmmu.sweep-spec/1", "workloads": [{"name": "gups", "params": )" +
                   params + R"(}], "flags": )" + flags + "}");
    return d / "spec.json";
}

const std::string kUpfrontGups = R"({"table_mib": 2, "updates": 1000})";

TEST(RobustUpFront, StudyRejectsAMisspeltShadowOptionBeforeAnyRun) {
    Outcome o =
        upfront_vmmu({"study", "scaling", "--sessions", "1,2", "--shadow-opt", "unsnc=off"});
    EXPECT_FAILS_WITH(o, 2, "unknown shadow option 'unsnc'", "unsync");
    EXPECT_FALSE(has(o.out, "scaling study")) << o.out;
}

TEST(RobustUpFront, StudyRejectsABadPageSizeBeforeAnyRun) {
    Outcome o = upfront_vmmu({"study", "scaling", "--sessions", "1,2", "--ept-pages", "3m"});
    EXPECT_FAILS_WITH(o, 2, "--ept-pages '3m'", "4k, 2m, 1g");
    EXPECT_FALSE(has(o.out, "scaling study")) << o.out;
}

TEST(RobustUpFront, RunRejectsThreeEptLevelsBeforeBooting) {
    Outcome o = upfront_vmmu({"run", "--workload", "hello", "--ept-levels", "3"});
    EXPECT_FAILS_WITH(o, 2, "--ept-levels 3", "4 and 5");
    EXPECT_TRUE(o.out.empty()) << o.out;
}

TEST(RobustUpFront, RunRejectsZeroOrTooManyVcpusBeforeBooting) {
    Outcome zero = upfront_vmmu({"run", "--workload", "hello", "--vcpus", "0"});
    EXPECT_FAILS_WITH(zero, 2, "--vcpus 0", "1 to 8");
    EXPECT_TRUE(zero.out.empty()) << zero.out;
    Outcome nine = upfront_vmmu({"run", "--workload", "hello", "--vcpus", "9"});
    EXPECT_FAILS_WITH(nine, 2, "--vcpus 9", "1 to 8");
    EXPECT_TRUE(nine.out.empty()) << nine.out;
}

TEST(RobustUpFront, RunRejectsAZeroVcpuQuantumBeforeBooting) {
    Outcome o = upfront_vmmu({"run", "--workload", "hello", "--vcpus", "2", "--vcpu-quantum", "0"});
    EXPECT_FAILS_WITH(o, 2, "--vcpu-quantum 0", "at least 1");
    EXPECT_TRUE(o.out.empty()) << o.out;
}

TEST(RobustUpFront, RunRejectsAnAgilePolicyOutOfRange) {
    Outcome o = upfront_vmmu(
        {"run", "--workload", "hello", "--backends", "agile", "--agile-opt", "nested_threshold=0"});
    EXPECT_FAILS_WITH(o, 2, "--agile-opt nested_threshold=0", "from 1 to 1000000");
    EXPECT_TRUE(o.out.empty()) << o.out;
}

TEST(RobustUpFront, StudyRejectsSixEptLevelsBeforeAnyRun) {
    Outcome o = upfront_vmmu({"study", "scaling", "--sessions", "1,2", "--ept-levels", "6"});
    EXPECT_FAILS_WITH(o, 2, "--ept-levels 6");
    EXPECT_FALSE(has(o.out, "scaling study")) << o.out;
}

TEST(RobustUpFront, DensityRejectsAMisspeltShadowOptionBeforeAnyVm) {
    Outcome o = upfront_vmmu({"study", "density", "--max-vms", "2", "--shadow-opt", "unsnc=off"});
    EXPECT_FAILS_WITH(o, 2, "unknown shadow option 'unsnc'");
    EXPECT_TRUE(o.out.empty()) << o.out;
}

TEST(RobustUpFront, PageSizesAreAcceptedInEitherCase) {
    Outcome o = upfront_vmmu({"run", "--workload", "hello", "--backends", "slat", "--ept-pages",
                              "2M", "--guest-pages", "4K"});
    EXPECT_EQ(o.code, 0) << o.err;
}

TEST(RobustUpFront, SweepSpecFlagsAreCheckedAsARunChecksThem) {
    EXPECT_FAILS_WITH(
        upfront_vmmu({"sweep", upfront_spec("ept", R"([["--ept-pages", "3m"]])", kUpfrontGups)}), 2,
        "spec.json", "--ept-pages '3m'");
    EXPECT_FAILS_WITH(
        upfront_vmmu(
            {"sweep", upfront_spec("shadow", R"([["--shadow-opt", "unsnc=1"]])", kUpfrontGups)}),
        2, "spec.json", "unknown shadow option 'unsnc'");
}

TEST(RobustUpFront, SweepSpecMisspeltParameterNamesTheSpecPath) {
    EXPECT_FAILS_WITH(upfront_vmmu({"sweep", upfront_spec("param", "[[]]", R"({"tabel_mib": 2})")}),
                      2, "workloads[0].params", "unknown parameter \"tabel_mib\"", "table_mib");
}

TEST(RobustUpFront, SweepSpecJsonFlagSaysTheSweepWritesEachRunsJson) {
    EXPECT_FAILS_WITH(
        upfront_vmmu({"sweep", upfront_spec("json", R"([["--json", "x"]])", kUpfrontGups)}), 2,
        "writes each run's JSON itself");
}

TEST(RobustUpFront, SweepWithAFailedRunExitsSix) {
    fs::path spec = upfront_spec("fail", R"([["--max-instructions", "1000"]])", kUpfrontGups);
    Outcome o =
        upfront_vmmu({"sweep", spec.string(), "--out", (spec.parent_path() / "out").string(),
                      "--no-progress", "--jobs", "1"});
    EXPECT_EQ(o.code, 6) << o.err;
    EXPECT_TRUE(has(o.err, "exited with 3")) << o.err;
}

TEST(RobustUpFront, ImpossibleHostClockIsRejectedNamingTheRange) {
    for (std::string ghz : {"0", "-2", "1e9"})
        EXPECT_FAILS_WITH(upfront_vmmu({"study", "scaling", "--sessions", "1", "--ghz", ghz}), 2,
                          "--ghz", "0.1 to 10 GHz");
    EXPECT_FAILS_WITH(upfront_vmmu({"study", "density", "--max-vms", "1", "--ghz", "0"}), 2,
                      "0.1 to 10 GHz");
}

TEST(RobustUpFront, InfiniteUtilisationIsRejectedNamingTheRange) {
    EXPECT_FAILS_WITH(upfront_vmmu({"study", "scaling", "--sessions", "1", "--util", "inf"}), 2,
                      "utilisation inf", "(0, 1]");
}

TEST(RobustUpFront, TooLargeParameterSaysSoAndGivesTheMaximum) {
    EXPECT_FAILS_WITH(
        upfront_vmmu({"run", "--workload", "gups", "--param", "updates=99999999999999999999"}), 2,
        "too large", "at most");
}

TEST(RobustUpFront, BadJsonGivesLineAndColumn) {
    fs::path d = scratch(test_name() + ".files");
    write_text(d / "a.json", "{\n  \"schema\": \"vmmu.run/1\",\n  \"x\": ,\n}\n");
    EXPECT_FAILS_WITH(upfront_vmmu({"compare", (d / "a.json").string(), (d / "a.json").string()}),
                      2, "a.json", "line 3, column 8");
    write_text(d / "b.json", "{\"schema\": \"vmmu.run/1\", \"x\": 1e400}\n");
    EXPECT_FAILS_WITH(upfront_vmmu({"compare", (d / "b.json").string(), (d / "b.json").string()}),
                      2, "b.json", "out of range");
}

TEST(RobustStudyRecord, StudyConfigRecordsTheResolvedConfiguration) {
    fs::path d = scratch(test_name() + ".files");
    // A file that calls itself like the shipped profile is recorded as a file, with its hash.
    fs::copy_file(fs::path(VMMU_BINARY_DIR) / "share/vmmu/profiles/nehalem-2009.json",
                  d / "nehalem-2009.json");
    Outcome o = upfront_vmmu({"study", "scaling", "--sessions", "1", "--backends", "shadow,slat",
                              "--shadow-profile", (d / "nehalem-2009.json").string(),
                              "--shadow-opt", "prev_roots=2", "--json", (d / "s.json").string()});
    ASSERT_EQ(o.code, 0) << o.err;
    auto c = nlohmann::json::parse(read_text(d / "s.json"))["config"];
    EXPECT_EQ(c["profile_sources"]["shadow"]["source"], "file") << c.dump(1);
    EXPECT_EQ(c["profile_sources"]["shadow"]["fnv1a64"].get<std::string>().size(), 16u);
    EXPECT_EQ(c["profile_sources"]["slat"]["source"], "shipped") << c.dump(1);
    EXPECT_EQ(c["shadow_options"], nlohmann::json::array({"prev_roots=2"}));
    EXPECT_EQ(c["guest_mib"], 1024);
    EXPECT_EQ(c["oracle"], true);
    EXPECT_EQ(c["dedup"]["enabled"], false);
}

TEST(RobustCompare, DirectoriesWithNoFileInCommonNameWhatEachSideLacks) {
    fs::path d = scratch(test_name() + ".files");
    fs::create_directories(d / "a");
    fs::create_directories(d / "b");
    write_text(d / "a" / "x.json", R"({"schema": "vmmu.run/1"})");
    write_text(d / "b" / "y.json", R"({"schema": "vmmu.run/1"})");
    Outcome o = upfront_vmmu({"compare", (d / "a").string(), (d / "b").string()});
    EXPECT_FAILS_WITH(o, 2, "no .json file in common", "/b': x.json", "/a': y.json");
}

TEST(RobustCompare, FailedBaselineCheckAdviceKeepsTheDirectory) {
    fs::path d = scratch(test_name() + ".files");
    write_text(d / "suite.json",
               R"({"schema": "vmmu.sweep-spec/1", "workloads": [{"name": "hello"}]})");
    Outcome o = upfront_vmmu({"baseline", "check", "--dir", d.string(), "--jobs", "1"});
    EXPECT_EQ(o.code, 5) << o.err;
    EXPECT_TRUE(has(o.out, "vmmu baseline update --dir " + d.string())) << o.out;
}

TEST(RobustCliHelp, VersionNamesVmmuUnicornAndCapstone) {
    Outcome o = upfront_vmmu({"--version"});
    EXPECT_EQ(o.code, 0) << o.err;
    EXPECT_TRUE(has(o.out, "vmmu ") && has(o.out, "Unicorn 2.") && has(o.out, "Capstone "))
        << o.out;
}

TEST(RobustCliHelp, HelpDescribesTheAppAndOneCommand) {
    Outcome all = upfront_vmmu({"help"});
    EXPECT_EQ(all.code, 0) << all.err;
    EXPECT_TRUE(has(all.out, "study") && has(all.out, "Exit codes") && has(all.out, "6 some runs"))
        << all.out;
    Outcome one = upfront_vmmu({"help", "study", "scaling"});
    EXPECT_EQ(one.code, 0) << one.err;
    EXPECT_TRUE(has(one.out, "--sessions")) << one.out;
    // The usage line names the command once, as a user types it.
    EXPECT_TRUE(has(one.out, "Usage: vmmu study scaling [OPTIONS]")) << one.out;
    EXPECT_TRUE(has(all.out, "Usage: vmmu [OPTIONS] SUBCOMMAND")) << all.out;
    EXPECT_FALSE(has(all.out, "help [OPTIONS]")) << all.out;
    EXPECT_FAILS_WITH(upfront_vmmu({"help", "frob"}), 2, "no command 'frob'", "run");
}

TEST(RobustCliHelp, NearMissOfAFlagSuggestsTheFlag) {
    Outcome o = upfront_vmmu({"study", "scaling", "--sesions", "1,2"});
    EXPECT_FAILS_WITH(o, 2, "unknown flag '--sesions'", "did you mean --sessions?");
    EXPECT_FALSE(has(o.err, "valid flags")) << o.err;
}

TEST(RobustCliHelp, ScalingStudyOffersNoWorkloadFlag) {
    Outcome o = upfront_vmmu({"help", "study", "scaling"});
    EXPECT_FALSE(has(o.out, "--workload")) << o.out;
    EXPECT_TRUE(has(o.out, "1 MiB ones barely change")) << o.out;
    EXPECT_FAILS_WITH(upfront_vmmu({"study", "scaling", "--workload", "gups"}), 2, "--workload");
}

TEST(RobustCliHelp, ListNamesEveryProfileOnOneLine) {
    Outcome o = upfront_vmmu({"list"});
    EXPECT_EQ(o.code, 0) << o.err;
    EXPECT_TRUE(has(o.out, "profiles (--profile NAME")) << o.out;
    for (std::string p : {"penryn-2008", "nehalem-2009", "skylake-2015"})
        EXPECT_TRUE(has(o.out, "    " + p + " ")) << o.out;
}

TEST(RobustCliHelp, ShardHelpSaysShardsTakeEveryNthRun) {
    Outcome o = upfront_vmmu({"help", "sweep"});
    EXPECT_TRUE(has(o.out, "every Nth run")) << o.out;
}

} // namespace
} // namespace vmmu::robust
