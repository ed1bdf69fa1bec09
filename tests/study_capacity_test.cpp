// The scaling study's capacity model on synthetic figures (engine/experiment/capacity.h, study.h)
// and its document (engine/output/study_report.h).
#include "engine/experiment/capacity.h"
#include "engine/experiment/study.h"

#include <gtest/gtest.h>

using namespace vmmu;

namespace vmmu {
// engine/output/study_report.h, declared rather than included: its includes bring vmmu::Machine
// into this file's unity batch, where the test fixtures have a Machine of their own.
std::string study_table(const nlohmann::ordered_json& s);
nlohmann::ordered_json study_json(const std::vector<StudyRun>& runs, const StudyHost& host,
                                  const nlohmann::ordered_json& config, bool interrupted,
                                  double wall_seconds);
} // namespace vmmu

namespace {
// 1e9 cycles per second of budget: U = 1, one core at 1 GHz, one action per second per user.
HostModel unit_host() { return {1, 1, 1, 1}; }
} // namespace

TEST(Capacity, FlatCostSustainsBudgetOverCostSessions) {
    std::vector<ScalingPoint> pts = {{1, 1e8}, {4, 1e8}, {16, 1e8}};
    Capacity c = sustainable_sessions(pts, unit_host());
    EXPECT_EQ(c.sessions, 10u);
    EXPECT_NEAR(c.crossing, 10.0, 1e-6);
    EXPECT_FALSE(c.extrapolated);
}

TEST(Capacity, InterpolatesLinearlyBetweenMeasuredK) {
    std::vector<ScalingPoint> pts = {{1, 1e8}, {4, 4e8}};
    EXPECT_DOUBLE_EQ(interpolate_cycles_per_action(pts, 2), 2e8);
    EXPECT_DOUBLE_EQ(interpolate_cycles_per_action(pts, 3.5), 3.5e8);
    // Demand k * k * 1e8 meets 1e9 at sqrt(10).
    Capacity c = sustainable_sessions(pts, unit_host());
    EXPECT_EQ(c.sessions, 3u);
    EXPECT_NEAR(c.crossing, 3.16227766, 1e-6);
}

TEST(Capacity, HeldAtTheLastPointAndFlaggedWhenExtrapolated) {
    std::vector<ScalingPoint> pts = {{1, 2e7}, {2, 5e7}};
    EXPECT_DOUBLE_EQ(interpolate_cycles_per_action(pts, 100), 5e7);
    EXPECT_DOUBLE_EQ(interpolate_cycles_per_action(pts, 0.5), 2e7);
    Capacity c = sustainable_sessions(pts, unit_host());
    EXPECT_TRUE(c.extrapolated);
    EXPECT_EQ(c.sessions, 20u);
    EXPECT_NEAR(c.crossing, 20.0, 1e-9);
}

TEST(Capacity, NeverSustainsOneSession) {
    std::vector<ScalingPoint> pts = {{1, 2e9}, {8, 1e8}};
    Capacity c = sustainable_sessions(pts, unit_host());
    EXPECT_EQ(c.sessions, 0u);
    EXPECT_EQ(c.crossing, 0.0);
}

TEST(Capacity, StopsAtTheFirstWholeKThatDoesNotFit) {
    // Demand rises past the budget at K=3 and falls back under it later: capacity is 2.
    std::vector<ScalingPoint> pts = {{1, 1e8}, {2, 4e8}, {3, 4e8}, {8, 1e7}};
    Capacity c = sustainable_sessions(pts, unit_host());
    EXPECT_EQ(c.sessions, 2u);
    EXPECT_GT(c.crossing, 2.0);
    EXPECT_LT(c.crossing, 3.0);
}

TEST(Capacity, ScalesWithCoresClockUtilisationAndRate) {
    std::vector<ScalingPoint> pts = {{1, 1e8}, {64, 1e8}};
    HostModel h{4, 2.5, 0.8, 2}; // 8e9 cycles/s for 2e8 per user
    EXPECT_EQ(sustainable_sessions(pts, h).sessions, 40u);
}

TEST(Capacity, RejectsBadInputNamingIt) {
    EXPECT_THROW(sustainable_sessions({}, unit_host()), std::invalid_argument);
    EXPECT_THROW(sustainable_sessions({{2, 1e8}, {1, 1e8}}, unit_host()), std::invalid_argument);
    EXPECT_THROW(sustainable_sessions({{1, 0}}, unit_host()), std::invalid_argument);
    HostModel over = unit_host();
    over.utilisation = 1.5;
    try {
        sustainable_sessions({{1, 1e8}}, over);
        FAIL() << "utilisation 1.5 accepted";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("utilisation 1.5"), std::string::npos) << e.what();
    }
}

namespace {
nlohmann::json fake_run(uint64_t apps, double shadow_cycles, double slat_cycles) {
    nlohmann::json b = {{"cycles", {{"total", 0.0}}},
                        {"exits", {{"total", 0}}},
                        {"walks", {{"refs_per_walk", 1.0}}},
                        {"tlb", {{"stlb_misses", 0}}}};
    nlohmann::json run = {{"schema", "vmmu.run/1"},
                          {"status", "ok"},
                          {"workload", {{"checksum", "0"}}},
                          {"guest", {{"instructions", 1}, {"reported", {{"sessions.apps", apps}}}}},
                          {"sim", {{"wall_seconds", 1.0}}}};
    run["backends"]["shadow"] = b;
    run["backends"]["shadow"]["cycles"]["total"] = shadow_cycles;
    run["backends"]["slat"] = b;
    run["backends"]["slat"]["cycles"]["total"] = slat_cycles;
    return run;
}
} // namespace

TEST(ScalingStudy, RatioOfSustainedSessionsFromRunDocuments) {
    StudyHost host;
    host.cores = 1;
    host.utilisation = 1;
    host.actions_per_sec = 1;
    host.profile_ghz = {{"shadow", 1.0}, {"slat", 1.0}};
    // K=1 and K=2, two actions per session: shadow 3e8, slat 1e8 cycles per action.
    std::vector<StudyRun> runs = {{1, "", fake_run(2, 6e8, 2e8), ""},
                                  {2, "", fake_run(4, 12e8, 4e8), ""},
                                  {4, "", nullptr, "killed by signal 9"}};
    auto s = study_json(runs, host, nlohmann::ordered_json::object(), false, 3.0);
    EXPECT_EQ(s["schema"], "vmmu.study.scaling/1");
    EXPECT_EQ(s["status"], "partial");
    EXPECT_EQ(s["points"][2]["status"], "failed");
    EXPECT_NEAR(s["capacity"]["shadow"]["crossing"].get<double>(), 1e9 / 3e8, 1e-6);
    EXPECT_NEAR(s["capacity"]["slat"]["crossing"].get<double>(), 10.0, 1e-6);
    EXPECT_NEAR(s["ratio"]["slat/shadow"].get<double>(), 3.0, 1e-9);
    EXPECT_EQ(s["ratio"]["verdict"], "above band");
    EXPECT_TRUE(s["sim"].contains("wall_seconds"));
}

TEST(ScalingStudy, ConsoleNamesTheRatioAndWarnsOfCrossingsFarPastTheLastK) {
    StudyHost host;
    host.cores = 1;
    host.utilisation = 1;
    host.actions_per_sec = 1;
    host.profile_ghz = {{"shadow", 1.0}, {"slat", 1.0}};
    host.profile = {{"shadow", "p"}, {"slat", "p"}};
    // Shadow crosses at 3.3 sessions (inside 2x of K=2), slat at 10: five times K=2.
    std::vector<StudyRun> runs = {{1, "", fake_run(2, 6e8, 2e8), ""},
                                  {2, "", fake_run(4, 12e8, 4e8), ""}};
    std::string text =
        study_table(study_json(runs, host, nlohmann::ordered_json::object(), false, 1));
    EXPECT_NE(text.find("shadow/slat\n"), std::string::npos) << text;
    EXPECT_NE(text.find("3.00x\n"), std::string::npos) << text;
    EXPECT_NE(text.find("shadow/slat: shadow cycles per action / slat cycles per action"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("warning: slat crosses at 10 sessions, 5.00x the largest measured K (2)"),
              std::string::npos)
        << text;
    EXPECT_EQ(text.find("warning: shadow"), std::string::npos) << text;
    EXPECT_NE(text.find("slat/shadow sessions: 3.00x"), std::string::npos) << text;
}
