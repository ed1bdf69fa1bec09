// Where vmmu looks for its data directory (engine/experiment/paths.h): installed layout, build
// tree, VMMU_DATA_DIR, and the message when none is there.
#include "engine/experiment/paths.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <unistd.h>

namespace vmmu {
namespace {
namespace fs = std::filesystem;

// A fresh directory per test under the build tree.
fs::path scratch() {
    auto* t = ::testing::UnitTest::GetInstance()->current_test_info();
    fs::path d = fs::path(VMMU_BINARY_DIR) / "paths_test" / t->name();
    fs::remove_all(d);
    fs::create_directories(d / "bin");
    return d;
}

std::string failure(const fs::path& exe_dir, const char* env) {
    try {
        find_data_dir(exe_dir, env);
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "";
}

TEST(DataDir, CandidatesAreTheInstalledLayoutThenTheBuildTree) {
    auto c = data_dir_candidates("/opt/x/bin", nullptr);
    ASSERT_EQ(c.size(), 2u);
    EXPECT_EQ(c[0], fs::path("/opt/x/share/vmmu"));
    EXPECT_EQ(c[1], fs::path("/opt/x/bin/share/vmmu"));
}

TEST(DataDir, EnvironmentReplacesTheCandidates) {
    auto c = data_dir_candidates("/opt/x/bin", "/data/vmmu");
    ASSERT_EQ(c.size(), 1u);
    EXPECT_EQ(c[0], fs::path("/data/vmmu"));
    // Set but empty counts as unset (an unexported shell variable).
    EXPECT_EQ(data_dir_candidates("/opt/x/bin", "").size(), 2u);
}

TEST(DataDir, FindsTheInstalledLayout) {
    fs::path p = scratch();
    fs::create_directories(p / "share/vmmu/profiles");
    EXPECT_EQ(find_data_dir(p / "bin", nullptr), p / "share/vmmu");
}

TEST(DataDir, FindsTheBuildTreeLayout) {
    fs::path p = scratch();
    fs::create_directories(p / "bin/share/vmmu/profiles");
    EXPECT_EQ(find_data_dir(p / "bin", nullptr), p / "bin/share/vmmu");
}

TEST(DataDir, MissingNamesEveryPlaceAndTheFix) {
    fs::path p = scratch();
    std::string msg = failure(p / "bin", nullptr);
    EXPECT_NE(msg.find((p / "share/vmmu").string()), std::string::npos) << msg;
    EXPECT_NE(msg.find((p / "bin/share/vmmu").string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("cmake --install"), std::string::npos) << msg;
    EXPECT_NE(msg.find("VMMU_DATA_DIR"), std::string::npos) << msg;
}

TEST(DataDir, EnvironmentPointingNowhereIsNamed) {
    fs::path p = scratch();
    fs::create_directories(p / "share/vmmu/profiles");
    std::string nowhere = (p / "nowhere").string();
    std::string msg = failure(p / "bin", nowhere.c_str());
    EXPECT_NE(msg.find(nowhere + " (VMMU_DATA_DIR)"), std::string::npos) << msg;
}

// The build stages build/share/vmmu with everything an install has.
TEST(DataDir, BuildTreeHoldsWhatAnInstallHolds) {
    unsetenv("VMMU_DATA_DIR");
    fs::path d = data_dir(); // this test runs from build/tests/
    EXPECT_EQ(fs::canonical(d), fs::canonical(fs::path(VMMU_BINARY_DIR) / "share/vmmu"));
    EXPECT_TRUE(fs::exists(d / "guest/kernel.elf"));
    EXPECT_TRUE(fs::exists(d / "guest/manifest.json"));
    EXPECT_TRUE(fs::exists(d / "guest/programs/hello.elf"));
    EXPECT_TRUE(fs::exists(d / "profiles/nehalem-2009.json"));
    EXPECT_TRUE(fs::exists(d / "scenarios/gups-slat-2m.json"));
    EXPECT_TRUE(fs::exists(d / "schema/vmmu.run.schema.json"));
    EXPECT_EQ(::access(report_script().c_str(), X_OK), 0) << report_script();
}

TEST(DataDir, GuestAndProfileOverridesStillWin) {
    setenv("VMMU_GUEST_DIR", "/g", 1);
    setenv("VMMU_PROFILE_DIR", "/p", 1);
    EXPECT_EQ(guest_dir(), fs::path("/g"));
    EXPECT_EQ(profile_dir(), fs::path("/p"));
    unsetenv("VMMU_GUEST_DIR");
    unsetenv("VMMU_PROFILE_DIR");
    EXPECT_EQ(guest_dir(), data_dir() / "guest");
    EXPECT_EQ(profile_dir(), data_dir() / "profiles");
}

} // namespace
} // namespace vmmu
