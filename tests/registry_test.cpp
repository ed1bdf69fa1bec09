// Scheme options through the registry (engine/mmu/registry.h): integer options come back with
// their defaults, and an unknown key or a value out of range is rejected naming the fix.
#include "engine/mmu/registry.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

using namespace vmmu;

namespace {
const bool registered = register_backend(
    "probe-scheme", [](const BackendEnv&) -> std::unique_ptr<Backend> { return nullptr; },
    {{"threshold", "2", "writes before a switch", 1, 1000}, {"mode", "x", "not an integer"}});

std::string message(const std::map<std::string, std::string>& options) {
    try {
        parse_scheme_options("probe-scheme", options);
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "";
}
} // namespace

TEST(SchemeOptions, DefaultsComeBackWhenNothingIsGiven) {
    ASSERT_TRUE(registered);
    auto v = parse_scheme_options("probe-scheme", {});
    EXPECT_EQ(v.at("threshold"), 2u);
    EXPECT_EQ(v.count("mode"), 0u); // not an integer option
    EXPECT_EQ(parse_scheme_options("probe-scheme", {{"threshold", "1000"}}).at("threshold"), 1000u);
}

TEST(SchemeOptions, OutOfRangeUnknownAndNonIntegerValuesAreRejectedNamingTheRange) {
    EXPECT_NE(message({{"threshold", "0"}})
                  .find("--probe-scheme-opt threshold=0: expected an "
                        "integer from 1 to 1000 (default 2)"),
              std::string::npos);
    EXPECT_NE(message({{"threshold", "1001"}}).find("from 1 to 1000"), std::string::npos);
    EXPECT_NE(message({{"threshold", "2x"}}).find("expected an integer"), std::string::npos);
    EXPECT_NE(message({{"treshold", "2"}})
                  .find("unknown probe-scheme option (valid: threshold, "
                        "mode)"),
              std::string::npos);
}
