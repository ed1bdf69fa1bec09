// Hand-edited CPU profiles and scenario files: syntax errors with their position, unknown,
// missing and mistyped keys, impossible values, each rejected with its key path and exit code 2.
#include "robustness_util.h"

#include "engine/experiment/run_flags.h"
#include "engine/experiment/scenario.h"

#include <nlohmann/json.hpp>

#include <functional>

namespace vmmu::robust {
namespace {
using nlohmann::json;

json nehalem() {
    return json::parse(
        read_text(fs::path(VMMU_SOURCE_DIR) / "workloads/profiles/nehalem-2009.json"));
}

// Runs hello with the profile `edit` makes of nehalem-2009.
Outcome run_with_profile(const std::function<void(json&)>& edit) {
    fs::path dir = scratch(test_name());
    json p = nehalem();
    edit(p);
    write_text(dir / "edited.json", p.dump(2));
    return run_vmmu({"run", "--workload", "hello", "--backends", "native", "--profile",
                     (dir / "edited.json").string()},
                    dir);
}

TEST(RobustProfile, SyntaxErrorGivesTheLineAndColumn) {
    fs::path dir = scratch(test_name());
    write_text(dir / "broken.json", "{\n  \"name\": \"broken\",\n  \"core_ghz\": ,\n}\n");
    EXPECT_FAILS_WITH(
        run_vmmu({"run", "--workload", "hello", "--profile", (dir / "broken.json").string()}, dir),
        2, "broken.json", "line 3, column");
}

TEST(RobustProfile, UnknownKeyIsNamedWithItsPath) {
    EXPECT_FAILS_WITH(run_with_profile([](json& p) { p["tlb"]["stlb"]["colour"] = 1; }), 2,
                      "tlb.stlb.colour: unknown key");
}

TEST(RobustProfile, MissingKeyIsNamedWithItsPath) {
    EXPECT_FAILS_WITH(run_with_profile([](json& p) { p["latency"].erase("walk_ref"); }), 2,
                      "latency.walk_ref: missing");
}

TEST(RobustProfile, WrongTypeIsNamedWithItsPath) {
    EXPECT_FAILS_WITH(run_with_profile([](json& p) { p["tlb"]["l1d_4k"]["ways"] = "four"; }), 2,
                      "tlb.l1d_4k.ways: must be an integer");
}

TEST(RobustProfile, ZeroTlbEntriesAreRejected) {
    EXPECT_FAILS_WITH(run_with_profile([](json& p) { p["tlb"]["stlb"]["entries"] = 0; }), 2,
                      "tlb.stlb.entries: 0 is out of range");
}

TEST(RobustProfile, NonPowerOfTwoSetsAreRejected) {
    EXPECT_FAILS_WITH(run_with_profile([](json& p) { p["tlb"]["l1d_4k"]["entries"] = 48; }), 2,
                      "tlb.l1d_4k.entries", "12 sets: must be a power of two");
}

TEST(RobustProfile, NegativeLatencyIsRejected) {
    EXPECT_FAILS_WITH(run_with_profile([](json& p) { p["latency"]["walk_ref"]["value"] = -3; }), 2,
                      "latency.walk_ref.value: -3 is out of range");
}

TEST(RobustProfile, ImpossibleFeatureCombinationIsRejected) {
    EXPECT_FAILS_WITH(run_with_profile([](json& p) { p["features"]["ept"] = false; }), 2,
                      "pwc.nested.present", "need features.ept");
}

// A scenario file with `text`, run as `vmmu run --scenario FILE extra...`.
Outcome run_scenario(const std::string& text, std::vector<std::string> extra = {}) {
    fs::path dir = scratch(test_name());
    write_text(dir / "s.json", text);
    std::vector<std::string> args = {"run", "--scenario", (dir / "s.json").string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_vmmu(args, dir);
}

TEST(RobustScenario, ValidScenarioRunsAndWritesItsSettings) {
    fs::path dir = scratch(test_name());
    write_text(dir / "s.json", R"({"schema": "vmmu.scenario/1", "workload": "hello",
        "profile": "skylake-2015", "backends": ["native", "slat"],
        "flags": {"guest-mib": 256, "pwc": false, "ept-pages": "2m"}})");
    Outcome o = run_vmmu({"run", "--scenario", (dir / "s.json").string(), "--quiet", "--json",
                          (dir / "run.json").string()},
                         dir);
    ASSERT_EQ(o.code, 0) << o.err;
    json j = json::parse(read_text(dir / "run.json"));
    EXPECT_EQ(j["status"], "ok");
    EXPECT_EQ(j["config"]["profile"], "skylake-2015");
    EXPECT_EQ(j["config"]["guest_mib"], 256);
    EXPECT_EQ(j["config"]["pwc"], false);
    EXPECT_EQ(j["config"]["ept_pages"], "2m");
    EXPECT_EQ(j["config"]["backends"], json::array({"native", "slat"}));
}

TEST(RobustScenario, DedupKeyTurnsTheScannerOnWithItsSettings) {
    fs::path dir = scratch(test_name());
    write_text(dir / "s.json", R"({"workload": "hello", "backends": ["slat"],
        "dedup": {"period": 100000, "pages": 500}})");
    Outcome o = run_vmmu({"run", "--scenario", (dir / "s.json").string(), "--quiet", "--json",
                          (dir / "run.json").string()},
                         dir);
    ASSERT_EQ(o.code, 0) << o.err;
    json j = json::parse(read_text(dir / "run.json"));
    ASSERT_TRUE(j.contains("dedup")) << j.dump();
    EXPECT_EQ(j["dedup"]["period"], 100000);
    EXPECT_EQ(j["dedup"]["pages_per_pass"], 500);
    EXPECT_GT(j["dedup"]["host"]["scans"].get<uint64_t>(), 0u);
    // false leaves it off: no dedup block.
    write_text(dir / "off.json", R"({"workload": "hello", "backends": ["slat"], "dedup": false})");
    o = run_vmmu({"run", "--scenario", (dir / "off.json").string(), "--quiet", "--json",
                  (dir / "off_run.json").string()},
                 dir);
    ASSERT_EQ(o.code, 0) << o.err;
    EXPECT_FALSE(json::parse(read_text(dir / "off_run.json")).contains("dedup"));
}

TEST(RobustScenario, BadDedupValuesAreNamedWithTheirPath) {
    EXPECT_FAILS_WITH(run_scenario(R"({"workload": "hello", "dedup": "yes"})"), 2, "s.json",
                      "dedup:", "\"period\": N");
    EXPECT_FAILS_WITH(run_scenario(R"({"workload": "hello", "dedup": {"period": 0}})"), 2,
                      "dedup.period:", "whole number >= 1");
    EXPECT_FAILS_WITH(run_scenario(R"({"workload": "hello", "dedup": {"pages": -5}})"), 2,
                      "dedup.pages:", "whole number >= 1");
    EXPECT_FAILS_WITH(run_scenario(R"({"workload": "hello", "dedup": {"rate": 5}})"), 2,
                      "dedup.rate:", "valid: period, pages");
    EXPECT_FAILS_WITH(run_scenario(R"({"workload": "hello", "flags": {"dedup": true}})"), 2,
                      "flags.dedup:", "top-level key \"dedup\"");
    EXPECT_FAILS_WITH(run_scenario(R"({"workload": "hello", "flags": {"dedup-pages": 9}})"), 2,
                      "flags.dedup-pages:", "top-level key \"dedup\"");
    EXPECT_FAILS_WITH(run_scenario(R"({"workload": "hello", "dedup": true,
                                       "flags": {"ept-pages": "2m"}})"),
                      2, "dedup:", "--ept-pages 4k");
}

TEST(RobustScenario, FuzzCorpusStillParses) {
    // The scenario fuzzer's seeds (tests/fuzz/corpus/scenario) must stay valid scenarios, or
    // the fuzzer starts from inputs rejected at the first key.
    int seen = 0;
    for (auto& e : fs::directory_iterator(VMMU_SOURCE_DIR "/tests/fuzz/corpus/scenario")) {
        json j = json::parse(read_text(e.path()));
        EXPECT_NO_THROW(parse_run_args(scenario_args(j, e.path().filename().string()))) << e.path();
        ++seen;
    }
    EXPECT_GE(seen, 4);
}

TEST(RobustScenario, SyntaxErrorGivesTheLineAndColumn) {
    EXPECT_FAILS_WITH(run_scenario("{\"workload\": \"hello\",\n \"params\": {,}}"), 2, "s.json",
                      "not valid JSON", "line 2, column");
}

TEST(RobustScenario, UnknownTopLevelKeyIsNamed) {
    EXPECT_FAILS_WITH(run_scenario(R"({"workload": "hello", "backend": ["native"]})"), 2,
                      "backend: unknown key", "backends");
}

TEST(RobustScenario, MissingWorkloadIsNamed) {
    EXPECT_FAILS_WITH(run_scenario(R"({"backends": ["native"]})"), 2, "workload: missing");
}

TEST(RobustScenario, WrongSchemaIsNamed) {
    EXPECT_FAILS_WITH(run_scenario(R"({"schema": "vmmu.run/1", "workload": "hello"})"), 2,
                      "schema:", "vmmu.scenario/1");
}

TEST(RobustScenario, WrongTypesAreNamedWithTheirPath) {
    EXPECT_FAILS_WITH(run_scenario(R"({"workload": 7})"), 2,
                      "workload: must be a non-empty string");
    EXPECT_FAILS_WITH(run_scenario(R"({"workload": "gups", "params": {"updates": "many"}})"), 2,
                      "params.updates", "not a whole number");
    EXPECT_FAILS_WITH(run_scenario(R"({"workload": "gups", "params": {"updates": -1}})"), 2,
                      "params.updates", "not a whole number");
    EXPECT_FAILS_WITH(run_scenario(R"({"workload": "hello", "backends": "native"})"), 2,
                      "backends: must be a list");
    EXPECT_FAILS_WITH(run_scenario(R"({"workload": "hello", "flags": {"guest-mib": 1.5}})"), 2,
                      "flags.guest-mib", "whole number");
}

TEST(RobustScenario, UnknownFlagListsTheValidFlags) {
    EXPECT_FAILS_WITH(run_scenario(R"({"workload": "hello", "flags": {"turbo": true}})"), 2,
                      "flags.turbo: unknown flag", "guest-mib", "max-instructions");
    EXPECT_FAILS_WITH(run_scenario(R"({"workload": "hello", "flags": {"workload": "gups"}})"), 2,
                      "flags.workload", "top-level key");
}

TEST(RobustScenario, BadFlagValueIsNamedWithItsPath) {
    EXPECT_FAILS_WITH(run_scenario(R"({"workload": "hello", "flags": {"pwc": "maybe"}})"), 2,
                      "flags.pwc", "valid values are on, off");
    EXPECT_FAILS_WITH(run_scenario(R"({"workload": "hello", "flags": {"guest-mib": "big"}})"), 2,
                      "flags.guest-mib", "big");
}

TEST(RobustScenario, UnknownNamesAreRejectedWithTheirKeyAndTheChoices) {
    EXPECT_FAILS_WITH(run_scenario(R"({"workload": "nosuch"})"), 2,
                      "workload: unknown workload 'nosuch'", "gups");
    EXPECT_FAILS_WITH(run_scenario(R"({"workload": "gups", "params": {"colour": 1}})"), 2,
                      "params:", "colour", "table_mib");
    EXPECT_FAILS_WITH(run_scenario(R"({"workload": "hello", "backends": ["native", "warp"]})"), 2,
                      "backends[1]: unknown backend 'warp'", "slat");
    EXPECT_FAILS_WITH(run_scenario(R"({"workload": "hello", "profile": "pentium-1993"})"), 2,
                      "profile:", "not found", "nehalem-2009");
}

TEST(RobustScenario, RunSettingsOnTheCommandLineTooAreRejected) {
    EXPECT_FAILS_WITH(run_scenario(R"({"workload": "hello"})", {"--workload", "gups"}), 2,
                      "--scenario: --workload is also given");
}

TEST(RobustScenario, RunSettingsBesideAVmsFileAreRejected) {
    // Each VM of the file has its own settings: a run flag beside the file would apply to none.
    fs::path dir = scratch(test_name());
    write_text(
        dir / "vms.json",
        R"({"schema": "vmmu.vms/1", "vms": [{"workload": "hello"}, {"workload": "hello"}]})");
    EXPECT_FAILS_WITH(run_vmmu({"run", "--vms-file", (dir / "vms.json").string(), "--dedup"}, dir),
                      2, "--vms-file: --dedup is also given", "\"dedup\"");
    EXPECT_FAILS_WITH(
        run_vmmu({"run", "--vms-file", (dir / "vms.json").string(), "--profile", "penryn-2008"},
                 dir),
        2, "--vms-file: --profile is also given");
}

TEST(RobustScenario, MissingFileIsNamed) {
    fs::path dir = scratch(test_name());
    EXPECT_FAILS_WITH(run_vmmu({"run", "--scenario", "/nonexistent/s.json"}, dir), 2,
                      "scenario /nonexistent/s.json: cannot open");
}

TEST(RobustScenario, ExampleScenariosInTheTreeAreValid) {
    fs::path dir = fs::path(VMMU_SOURCE_DIR) / "workloads/scenarios";
    int seen = 0;
    for (auto& e : fs::directory_iterator(dir)) {
        if (e.path().extension() != ".json") continue;
        ++seen;
        fs::path out = scratch(test_name() + "-" + e.path().stem().string());
        // A tiny budget: the file must parse and boot; running it whole is the workloads' job.
        json j = json::parse(read_text(e.path()));
        j["flags"]["max-instructions"] = 200000;
        write_text(out / "s.json", j.dump());
        Outcome o = run_vmmu({"run", "--scenario", (out / "s.json").string(), "--quiet"}, out);
        EXPECT_TRUE(o.code == 0 || o.code == 3) << e.path() << ":\n" << o.err;
        EXPECT_FALSE(has(o.err, "scenario")) << o.err;
    }
    EXPECT_GT(seen, 0);
}

} // namespace
} // namespace vmmu::robust
