// `--guest-levels` through the built `vmmu`: bad values exit 2 before anything runs; a 5-level
// run reports it; the walk demo shows a five-row grid of 35 references; sweeps and studies take
// the flag. Also the checks of scheme options: --NAME-opt without that scheme attached, and
// --hypervisor hyperv with agile on a profile without EPT, exit 2 naming the fix.
#include "robustness_util.h"

#include <nlohmann/json.hpp>

namespace vmmu::robust {
namespace {

Outcome la57_vmmu(const std::vector<std::string>& args) {
    return run_vmmu(args, scratch(test_name()));
}

} // namespace

TEST(La57Cli, GuestLevelsOtherThanFourOrFiveExitTwo) {
    for (const char* bad : {"3", "6", "0"}) {
        Outcome o = la57_vmmu({"run", "--workload", "hello", "--guest-levels", bad});
        EXPECT_FAILS_WITH(o, 2, std::string("--guest-levels ") + bad, "4 and 5");
        EXPECT_TRUE(o.out.empty()) << o.out;
    }
    Outcome s = la57_vmmu({"study", "scaling", "--sessions", "1,2", "--guest-levels", "7"});
    EXPECT_FAILS_WITH(s, 2, "--guest-levels 7");
    EXPECT_FALSE(has(s.out, "scaling study")) << s.out;
}

TEST(La57Cli, AFiveLevelRunSaysSoInItsDocument) {
    fs::path d = scratch(test_name());
    Outcome o = run_vmmu({"run", "--workload", "hello", "--backends", "native,shadow,slat,agile",
                          "--guest-levels", "5", "--json", (d / "run.json").string()},
                         d);
    ASSERT_EQ(o.code, 0) << o.err;
    auto j = nlohmann::json::parse(read_text(d / "run.json"));
    EXPECT_EQ(j["config"]["guest_levels"], 5);
    // Four-level documents keep their shape: no guest_levels key.
    Outcome four = run_vmmu({"run", "--workload", "hello", "--backends", "native", "--json",
                             (d / "four.json").string()},
                            d);
    ASSERT_EQ(four.code, 0) << four.err;
    EXPECT_FALSE(
        nlohmann::json::parse(read_text(d / "four.json"))["config"].contains("guest_levels"));
}

TEST(La57Cli, WalkDemoShowsAFiveLevelGrid) {
    Outcome o =
        la57_vmmu({"demo", "walk", "--workload", "hello", "--backends", "native,shadow,slat",
                   "--guest-levels", "5", "--ept-levels", "5", "--json"});
    ASSERT_EQ(o.code, 0) << o.err;
    auto j = nlohmann::json::parse(o.out);
    EXPECT_EQ(j["guest_walk"].size(), 5u);
    EXPECT_EQ(j["guest_walk"][0]["level"], 5);
    EXPECT_EQ(j["native"]["references"], 5);
    EXPECT_EQ(j["shadow"]["references"], 5);
    EXPECT_EQ(j["slat"]["cold_references"], 35);
    EXPECT_EQ(j["slat"]["guest_levels"], 5);
    EXPECT_EQ(j["slat"]["cold_grid"].size(), 35u);
    EXPECT_EQ(j["slat"]["cold_grid"][0]["row"], "gL5");
    Outcome text = la57_vmmu({"demo", "walk", "--workload", "hello", "--backends", "slat",
                              "--guest-levels", "5", "--va", "0x11ffffffff000"});
    ASSERT_EQ(text.code, 0) << text.err;
    EXPECT_TRUE(has(text.out, "gL5 (CR3)")) << text.out;
    EXPECT_TRUE(has(text.out, "29 references")) << text.out;
    // Bit 48 is canonical only with five levels.
    Outcome four = la57_vmmu(
        {"demo", "walk", "--workload", "hello", "--backends", "slat", "--va", "0x11ffffffff000"});
    EXPECT_FAILS_WITH(four, 2, "not a canonical address", "4-level");
}

TEST(La57Cli, WalkDemoShowsAgilesMixedWalk) {
    Outcome o = la57_vmmu({"demo", "walk", "--workload", "forkwait", "--param", "n=5", "--backends",
                           "agile,slat", "--agile-opt", "nested_threshold=1", "--guest-levels", "5",
                           "--at", "end", "--json"});
    ASSERT_EQ(o.code, 0) << o.err;
    auto j = nlohmann::json::parse(o.out);
    const auto& a = j["agile"];
    EXPECT_EQ(a["references"].get<int>(),
              a["shadowed_references"].get<int>() + a["nested_references"].get<int>());
    EXPECT_EQ(a["shadowed"][0]["level"], 5);
    EXPECT_EQ(a["guest_levels"], 5);
    // Whatever the mode of each table, agile's walk ends where slat's does.
    EXPECT_EQ(a["hpa"], j["slat"]["hpa"]);
    Outcome text = la57_vmmu(
        {"demo", "walk", "--workload", "hello", "--backends", "agile", "--guest-levels", "5"});
    ASSERT_EQ(text.code, 0) << text.err;
    EXPECT_TRUE(has(text.out, "agile: ")) << text.out;
    EXPECT_TRUE(has(text.out, "to the hypervisor's shadow pages")) << text.out;
}

TEST(La57Cli, SweepTakesGuestLevelsAsAFlagSet) {
    fs::path d = scratch(test_name());
    write_text(d / "spec.json", R"({"schema": "vmmu.sweep-spec/1",
        "workloads": [{"name": "gups", "params": {"table_mib": 2, "updates": 1000}}],
        "flags": [["--backends", "native,slat", "--guest-levels", "4"],
                  ["--backends", "native,slat", "--guest-levels", "5"]]})");
    Outcome o = run_vmmu({"sweep", (d / "spec.json").string(), "--out", (d / "out").string()}, d);
    ASSERT_EQ(o.code, 0) << o.err << o.out;
    int fives = 0, runs = 0;
    for (auto& e : fs::directory_iterator(d / "out" / "runs")) {
        auto j = nlohmann::json::parse(read_text(e.path()));
        ++runs;
        fives += j["config"].value("guest_levels", 4) == 5;
    }
    EXPECT_EQ(runs, 2);
    EXPECT_EQ(fives, 1);
    write_text(d / "bad.json", R"({"schema": "vmmu.sweep-spec/1",
        "workloads": [{"name": "gups", "params": {"table_mib": 2, "updates": 1000}}],
        "flags": [["--guest-levels", "6"]]})");
    EXPECT_FAILS_WITH(run_vmmu({"sweep", (d / "bad.json").string()}, d), 2, "bad.json",
                      "--guest-levels 6");
}

TEST(La57Cli, SchemeOptionsForASchemeNotAttachedExitTwo) {
    Outcome a = la57_vmmu({"run", "--workload", "hello", "--backends", "native,slat", "--agile-opt",
                           "nested_threshold=4"});
    EXPECT_FAILS_WITH(a, 2, "--agile-opt", "agile is not attached", "--backends");
    EXPECT_TRUE(a.out.empty()) << a.out;
    Outcome s =
        la57_vmmu({"run", "--workload", "hello", "--backends", "slat", "--shadow-opt", "unsync=0"});
    EXPECT_FAILS_WITH(s, 2, "--shadow-opt", "shadow is not attached");
}

TEST(La57Cli, HyperVWithAgileNeedsAProfileWithEpt) {
    Outcome o = la57_vmmu({"run", "--workload", "hello", "--backends", "agile", "--profile",
                           "penryn-2008", "--hypervisor", "hyperv"});
    EXPECT_FAILS_WITH(o, 2, "backend agile", "penryn-2008 has no EPT",
                      "--backend-profile agile=nehalem-2009");
    EXPECT_TRUE(o.out.empty()) << o.out;
}

} // namespace vmmu::robust
