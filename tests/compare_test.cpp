// vmmu compare (value-by-value diff outside "sim", tolerance, exit codes) and sweep specs
// (grid expansion, names, shards, rejected input).
#include "engine/cli/cli.h"
#include "engine/experiment/compare.h"
#include "engine/output/compare_report.h"
#include "engine/experiment/sweep.h"
#include "engine/experiment/sweep_spec.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

using namespace vmmu;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

json run_doc() {
    return json::parse(R"({"schema": "vmmu.run/1", "status": "ok",
        "guest": {"instructions": 1000, "page_faults": 0},
        "backends": {"slat": {"walks": {"refs": 240}, "cycles": {"total": 1.5e6}}},
        "config": {"backends": ["native", "slat"]},
        "sim": {"wall_seconds": 0.5, "guest_mips": 2.0}})");
}

int cli(std::vector<std::string> args) {
    args.insert(args.begin(), "vmmu");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    return cli_main(static_cast<int>(argv.size()), argv.data());
}

fs::path write(const std::string& name, const std::string& text) {
    fs::path p = fs::temp_directory_path() / ("vmmu_compare_test_" + name);
    std::ofstream(p) << text;
    return p;
}

void use_built_guest() {
    setenv("VMMU_GUEST_DIR", VMMU_GUEST_DIR, 1);
    setenv("VMMU_PROFILE_DIR", VMMU_SOURCE_DIR "/workloads/profiles", 1);
}

} // namespace

TEST(Compare, OnlySimDiffersMeansNoChange) {
    json a = run_doc(), b = run_doc();
    b["sim"]["wall_seconds"] = 99.0;
    CompareResult r = compare_json(a, b, 0);
    EXPECT_TRUE(r.changes.empty());
    EXPECT_EQ(r.compared, 8u); // every leaf outside sim, schema included
}

TEST(Compare, OneMoreWalkRefIsBeyondZeroTolerance) {
    json a = run_doc(), b = run_doc();
    b["backends"]["slat"]["walks"]["refs"] = 241;
    CompareResult r = compare_json(a, b, 0);
    ASSERT_EQ(r.changes.size(), 1u);
    EXPECT_EQ(r.changes[0].path, "backends.slat.walks.refs");
    EXPECT_EQ(r.changes[0].old_value, "240");
    EXPECT_EQ(r.changes[0].new_value, "241");
    EXPECT_NEAR(*r.changes[0].delta_pct, 100.0 / 240, 1e-9);
    EXPECT_EQ(r.beyond(), 1u);
}

TEST(Compare, ToleranceAbsorbsSmallMovesOnly) {
    json a = run_doc(), b = run_doc();
    b["backends"]["slat"]["cycles"]["total"] = 1.5e6 * 1.004; // +0.4 %
    b["guest"]["instructions"] = 1100;                        // +10 %
    CompareResult r = compare_json(a, b, 1.0);
    EXPECT_EQ(r.changes.size(), 2u);
    EXPECT_EQ(r.beyond(), 1u);
    EXPECT_NE(change_table(r, 1.0).find("within tolerance"), std::string::npos);
}

TEST(Compare, ZeroToNonZeroIsInfinitelyFar) {
    json a = run_doc(), b = run_doc();
    b["guest"]["page_faults"] = 1;
    CompareResult r = compare_json(a, b, 1e9);
    ASSERT_EQ(r.changes.size(), 1u);
    EXPECT_TRUE(std::isinf(*r.changes[0].delta_pct));
    EXPECT_TRUE(r.changes[0].beyond);
}

TEST(Compare, StringsAndMissingValuesAlwaysCount) {
    json a = run_doc(), b = run_doc();
    b["status"] = "oracle_mismatch";
    b["config"]["backends"].push_back("shadow");
    b["backends"]["slat"].erase("cycles");
    CompareResult r = compare_json(a, b, 50);
    EXPECT_EQ(r.beyond(), 3u);
    std::set<std::string> paths;
    for (auto& c : r.changes) paths.insert(c.path);
    EXPECT_TRUE(paths.count("status"));
    EXPECT_TRUE(paths.count("config.backends[2]"));
    EXPECT_TRUE(paths.count("backends.slat.cycles.total"));
}

TEST(Compare, SimBlocksInsideMergedSweepsAreIgnored) {
    json a = {{"schema", "vmmu.sweep/1"},
              {"runs", {{"x", {{"result", run_doc()}}}}},
              {"sim", {{"jobs", 2}}}};
    json b = a;
    b["runs"]["x"]["result"]["sim"]["guest_mips"] = 7.0;
    b["sim"]["jobs"] = 8;
    EXPECT_TRUE(compare_json(a, b, 0).changes.empty());
    b["runs"]["x"]["result"]["guest"]["instructions"] = 1;
    EXPECT_EQ(compare_json(a, b, 0).changes.at(0).path, "runs.x.result.guest.instructions");
}

TEST(CompareCommand, ExitCodesSameMovedAndBadInput) {
    json a = run_doc(), b = run_doc();
    b["backends"]["slat"]["walks"]["refs"] = 250;
    auto pa = write("a.json", a.dump(2)), pb = write("b.json", b.dump(2));
    EXPECT_EQ(cli({"compare", pa.string(), pa.string()}), 0);
    EXPECT_EQ(cli({"compare", pa.string(), pb.string()}), kExitValuesMoved);
    EXPECT_EQ(cli({"compare", pa.string(), pb.string(), "--tolerance", "5"}), 0);
    EXPECT_EQ(cli({"compare", pa.string(), pb.string(), "--tolerance", "3"}), kExitValuesMoved);
    for (auto tol : {"nan", "inf", "1e400", "-1", "x"})
        EXPECT_EQ(cli({"compare", pa.string(), pb.string(), "--tolerance", tol}), 2) << tol;
    EXPECT_EQ(cli({"compare", pa.string(), pb.string(), "--jobs", "2"}), 2); // --update only
    EXPECT_EQ(cli({"compare", pa.string(), "/nonexistent/vmmu.json"}), 2);
    EXPECT_EQ(cli({"compare", pa.string(), write("bad.json", "{\"schema\": ").string()}), 2);
    EXPECT_EQ(cli({"compare", pa.string(), write("other.json", "{\"a\": 1}").string()}), 2);
    EXPECT_EQ(cli({"compare", pa.string()}), 2);
}

// Counters past 2^53 (checksums, cycle totals) differ in their last digit: a double would
// round both to one value.
TEST(Compare, LargeIntegersCompareExactly) {
    json a = run_doc(), b = run_doc();
    a["guest"]["instructions"] = 17424936148390551694ull;
    b["guest"]["instructions"] = 17424936148390551695ull;
    CompareResult r = compare_json(a, b, 0);
    ASSERT_EQ(r.changes.size(), 1u);
    EXPECT_TRUE(r.changes[0].beyond);
    EXPECT_NE(change_table(r, 0).find("e-18"), std::string::npos) << change_table(r, 0);
    b["guest"]["instructions"] = 17424936148390551694ull;
    EXPECT_TRUE(compare_json(a, b, 0).changes.empty());
    // Signed against unsigned: -1 is not 2^64 - 1.
    a["guest"]["page_faults"] = -1;
    b["guest"]["page_faults"] = UINT64_MAX;
    EXPECT_EQ(compare_json(a, b, 0).beyond(), 1u);
}

// Exactly at the tolerance is within it: 20 -> 21 is +5 % (integers compare without rounding).
TEST(Compare, AChangeOfExactlyTheToleranceIsWithinIt) {
    json a = run_doc(), b = run_doc();
    a["guest"]["page_faults"] = 20;
    b["guest"]["page_faults"] = 21;
    EXPECT_EQ(compare_json(a, b, 5).beyond(), 0u);
    EXPECT_EQ(compare_json(a, b, 4.99).beyond(), 1u);
    // Tolerances without an exact binary value: 1000 -> 1003 is +0.3 %, and 0.3 is stored as
    // 0.2999...; still within.
    a["guest"]["page_faults"] = 1000;
    for (auto [now, tol] : {std::pair{1003, 0.3}, {1006, 0.6}, {1007, 0.7}, {1023, 2.3}}) {
        b["guest"]["page_faults"] = now;
        EXPECT_EQ(compare_json(a, b, tol).beyond(), 0u) << now << " at " << tol;
        b["guest"]["page_faults"] = now + 1;
        EXPECT_EQ(compare_json(a, b, tol).beyond(), 1u) << now + 1 << " at " << tol;
    }
}

TEST(CompareCommand, DocumentsOfDifferentKindsAreBadInput) {
    json run = run_doc(), sweep = {{"schema", "vmmu.sweep/1"}, {"runs", json::object()}};
    auto pa = write("kind_run.json", run.dump()), pb = write("kind_sweep.json", sweep.dump());
    EXPECT_EQ(cli({"compare", pa.string(), pb.string()}), 2);
}

// Directories: files in subdirectories count (a sweep's runs/), and two directories without a
// single JSON file are an error, not a pass.
TEST(CompareCommand, DirectoriesAreComparedRecursivelyAndMustHoldJson) {
    fs::path root = fs::temp_directory_path() / "vmmu_compare_test_dirs";
    fs::remove_all(root);
    fs::create_directories(root / "a" / "runs");
    fs::create_directories(root / "b" / "runs");
    EXPECT_EQ(cli({"compare", (root / "a").string(), (root / "b").string()}), 2);
    json x = run_doc(), y = run_doc();
    y["guest"]["instructions"] = 1001;
    std::ofstream(root / "a" / "runs" / "r.json") << x.dump();
    std::ofstream(root / "b" / "runs" / "r.json") << x.dump();
    EXPECT_EQ(cli({"compare", (root / "a").string(), (root / "b").string()}), 0);
    std::ofstream(root / "b" / "runs" / "r.json") << y.dump();
    EXPECT_EQ(cli({"compare", (root / "a").string(), (root / "b").string()}), kExitValuesMoved);
    fs::remove_all(root);
}

TEST(SweepSpec, GridExpandsInOrderWithStableNames) {
    use_built_guest();
    auto spec = nlohmann::ordered_json::parse(R"({"schema": "vmmu.sweep-spec/1",
        "workloads": [{"name": "hello"}, {"name": "gups", "params": {"table_mib": [1, 2], "updates": 5000}}],
        "profiles": ["penryn-2008", "nehalem-2009"], "flags": [[], ["--ept-pages", "2m"]]})");
    SweepSpec s = expand_sweep_spec(spec, "test");
    ASSERT_EQ(s.runs.size(), 12u);
    EXPECT_EQ(s.runs[0].name, "hello.penryn-2008");
    EXPECT_EQ(s.runs[1].name, "hello.penryn-2008.ept-pages=2m");
    EXPECT_EQ(s.runs[4].name, "gups.table_mib=1.updates=5000.penryn-2008");
    EXPECT_EQ(s.runs[11].name, "gups.table_mib=2.updates=5000.nehalem-2009.ept-pages=2m");
    std::vector<std::string> args = {
        "--workload",   "gups",      "--param",      "table_mib=2", "--param",
        "updates=5000", "--profile", "nehalem-2009", "--ept-pages", "2m"};
    EXPECT_EQ(s.runs[11].args, args);
}

TEST(SweepSpec, ShardsPartitionTheGrid) {
    use_built_guest();
    auto spec = nlohmann::ordered_json::parse(R"({"schema": "vmmu.sweep-spec/1",
        "workloads": [{"name": "gups", "params": {"table_mib": [1, 2, 4, 8, 16, 32, 64]}}]})");
    SweepSpec s = expand_sweep_spec(spec, "test");
    std::multiset<std::string> seen;
    for (unsigned i = 1; i <= 3; ++i)
        for (auto& r : shard_runs(s.runs, parse_shard(std::to_string(i) + "/3")))
            seen.insert(r.name);
    EXPECT_EQ(seen.size(), 7u);
    for (auto& r : s.runs) EXPECT_EQ(seen.count(r.name), 1u) << r.name;
    EXPECT_EQ(shard_runs(s.runs, parse_shard("1/3")).size(), 3u);
}

TEST(SweepSpec, BadInputIsRejectedWithTheFix) {
    use_built_guest();
    auto error_of = [](const std::string& text) {
        try {
            expand_sweep_spec(nlohmann::ordered_json::parse(text), "test");
        } catch (const std::invalid_argument& e) {
            return std::string(e.what());
        }
        return std::string("accepted");
    };
    EXPECT_NE(error_of(R"({"schema": "vmmu.sweep-spec/1", "workloads": [{"name": "nope"}]})"),
              "accepted");
    EXPECT_NE(
        error_of(R"({"schema": "vmmu.sweep-spec/1", "workloads": [{"name": "hello"}], "extra": 1})")
            .find("unknown key \"extra\""),
        std::string::npos);
    EXPECT_NE(
        error_of(
            R"({"schema": "vmmu.sweep-spec/1", "workloads": [{"name": "gups", "params": {"bogus": 1}}]})"),
        "accepted");
    EXPECT_NE(
        error_of(
            R"({"schema": "vmmu.sweep-spec/1", "workloads": [{"name": "hello"}], "flags": [["--profile", "x"]]})")
            .find("set by the grid"),
        std::string::npos);
    EXPECT_NE(
        error_of(
            R"({"schema": "vmmu.sweep-spec/1", "workloads": [{"name": "hello"}], "flags": [["--pwc", "maybe"]]})"),
        "accepted");
    EXPECT_NE(error_of(R"({"workloads": [{"name": "hello"}]})").find("schema"), std::string::npos);
    EXPECT_NE(error_of(R"({"schema": "vmmu.sweep-spec/1", "workloads": [{"name": "hello"}],
                   "profiles": ["no-such-cpu"]})")
                  .find("no-such-cpu"),
              std::string::npos);
    for (auto bad : {"0/3", "4/3", "1/0", "a/b", "2", "1/2/3", "1/-3", "-1/3", "+1/3", " 1/3"})
        EXPECT_THROW(parse_shard(bad), std::invalid_argument) << bad;
}

// --merge collects files other machines wrote: one that is not the grid's run under that name
// (another workload, parameter or profile) is refused, not merged.
TEST(SweepMerge, ARunJsonFromAnotherRunIsRefused) {
    use_built_guest();
    auto spec = nlohmann::ordered_json::parse(R"({"schema": "vmmu.sweep-spec/1",
        "workloads": [{"name": "gups", "params": {"table_mib": 1, "updates": 5000}}],
        "profiles": ["penryn-2008"]})");
    SweepSpec s = expand_sweep_spec(spec, "test");
    ASSERT_EQ(s.runs.size(), 1u);
    fs::path dir = fs::temp_directory_path() / "vmmu_compare_test_merge";
    fs::remove_all(dir);
    fs::create_directories(dir);
    auto doc = [](const std::string& name, uint64_t updates, const std::string& profile) {
        json j = run_doc();
        j["workload"] = {{"name", name}, {"params", {{"table_mib", 1}, {"updates", updates}}}};
        j["config"]["profile"] = profile;
        return j;
    };
    fs::path p = dir / (s.runs[0].name + ".json");
    std::ofstream(p) << doc("gups", 5000, "penryn-2008").dump();
    EXPECT_NO_THROW(merge_sweep(s, s.runs, dir, Shard{}, 0, 0));
    for (json bad : {doc("stream", 5000, "penryn-2008"), doc("gups", 6000, "penryn-2008"),
                     doc("gups", 5000, "nehalem-2009")}) {
        std::ofstream(p) << bad.dump();
        EXPECT_THROW(merge_sweep(s, s.runs, dir, Shard{}, 0, 0), std::invalid_argument)
            << bad.dump();
    }
    fs::remove_all(dir);
}

TEST(ComparePlace, SweepRunNamesKeepTheirDotsAndBackendsSplitIntoGroups) {
    ValuePlace p = place_of("runs.gups.table_mib=4.penryn-2008.result.backends.slat.walks.refs");
    EXPECT_EQ(p.run, "gups.table_mib=4.penryn-2008");
    EXPECT_EQ(p.backend, "slat");
    EXPECT_EQ(p.group, "walks");
    EXPECT_EQ(p.counter, "refs");
    p = place_of("vms[1].backends.shadow.exits.by_reason.pt_write");
    EXPECT_EQ(p.run, "vms[1]");
    EXPECT_EQ(p.group, "exits");
    EXPECT_EQ(p.counter, "by_reason.pt_write");
    p = place_of("guest.instructions");
    EXPECT_EQ(p.backend, "");
    EXPECT_EQ(p.group, "guest");
    EXPECT_EQ(place_of("schema").group, "document");
    // A run measured in windows (windows.NAME.{guest, backends}).
    p = place_of("windows.roi.backends.slat.walks.refs");
    EXPECT_EQ(p.window, "roi");
    EXPECT_EQ(p.backend, "slat");
    EXPECT_EQ(p.group, "walks");
    EXPECT_EQ(place_of("windows.warmup.guest.instructions").group, "guest");
}

TEST(ComparePolicy, BadDirectionsAreTheCostsAndGoodOnesTheCacheHits) {
    EXPECT_EQ(ComparePolicy::worse_direction("backends.slat.cycles.total"), 1);
    EXPECT_EQ(ComparePolicy::worse_direction("backends.shadow.exits.by_reason.pt_write"), 1);
    EXPECT_EQ(ComparePolicy::worse_direction("backends.native.tlb.stlb_misses"), 1);
    EXPECT_EQ(ComparePolicy::worse_direction("backends.slat.walks.refs_by_dimension.nested"), 1);
    EXPECT_EQ(ComparePolicy::worse_direction("backends.slat.walks.pwc_hits"), -1);
    EXPECT_EQ(ComparePolicy::worse_direction("backends.slat.walks.ntlb_hits"), -1);
    EXPECT_EQ(ComparePolicy::worse_direction("backends.slat.tlb.l1d_lookups"), 0);
    EXPECT_EQ(ComparePolicy::worse_direction("guest.instructions"), 0);
    EXPECT_EQ(ComparePolicy::worse_direction("comparison.shadow/native"), 1);
    // Caches: further out is worse, L1 hits alone say nothing.
    EXPECT_EQ(ComparePolicy::worse_direction("backends.slat.caches.walk_refs.memory"), 1);
    EXPECT_EQ(
        ComparePolicy::worse_direction("backends.slat.caches.walk_refs_by_dimension.nested.llc"),
        1);
    EXPECT_EQ(ComparePolicy::worse_direction("backends.slat.caches.walk_refs.l1"), 0);
    EXPECT_EQ(ComparePolicy::worse_direction("backends.slat.caches.walk_cycles_per_walk.all"), 1);
    EXPECT_EQ(ComparePolicy::worse_direction("backends.slat.caches.data.l2"), 1);
    EXPECT_EQ(ComparePolicy::worse_direction("backends.slat.caches.data.l1"), 0);
    EXPECT_EQ(ComparePolicy::worse_direction("backends.slat.caches.data_misses_from_walks.l1"), 1);
    // Hyper-V's counters: work done is worse; the two levels have no direction.
    EXPECT_EQ(ComparePolicy::worse_direction(
                  "backends.shadow.hyperv_counters.Page Table Write Intercepts"),
              1);
    EXPECT_EQ(ComparePolicy::worse_direction("backends.shadow.hyperv_counters.Address Spaces"), 0);
    EXPECT_EQ(ComparePolicy::worse_direction("backends.shadow.hyperv_counters.Virtual TLB Pages"),
              0);
}

TEST(ComparePolicy, FloorAndRegressionsOnlyJudgeEachValue) {
    json a = run_doc(), b = run_doc();
    b["guest"]["page_faults"] = 1;                    // 0 -> 1
    b["backends"]["slat"]["cycles"]["total"] = 1.2e6; // fewer cycles: better
    ComparePolicy p;
    CompareResult r = compare_json(a, b, p);
    EXPECT_EQ(r.beyond(), 2u);
    p.floor = 1;
    p.regressions_only = true;
    r = compare_json(a, b, p);
    EXPECT_EQ(r.beyond(), 0u);
    ASSERT_EQ(r.changes.size(), 2u);
    for (auto& c : r.changes)
        EXPECT_EQ(c.improvement, c.path == "backends.slat.cycles.total") << c.path;
    p.ignore = {"guest.*"};
    EXPECT_EQ(compare_json(a, b, p).ignored, 2u);
}
