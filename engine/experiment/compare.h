// Compares two vmmu JSON documents (a run, or a merged sweep) value by value: every number,
// string and flag outside the wall-clock `sim` blocks, which are the only non-deterministic part.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace vmmu {

struct ValueChange {
    std::string path;                 // "backends.slat.walks.refs", "runs.gups.guest.instructions"
    std::string old_value, new_value; // as JSON text; "(absent)" when missing on one side
    std::optional<double> delta_pct;  // numbers only; +inf when old is 0
    bool beyond = false;              // moved by more than the tolerance
};

struct CompareResult {
    uint64_t compared = 0; // leaves looked at (union of both sides)
    std::vector<ValueChange> changes;
    uint64_t beyond() const;
};

// Walks both documents; numbers move "beyond" when |delta %| > tolerance_pct, anything else
// (strings, booleans, null, a value present on one side only) whenever it differs.
CompareResult compare_json(const nlohmann::json& base, const nlohmann::json& now,
                           double tolerance_pct);

// Reads a vmmu JSON document; throws std::invalid_argument naming the file and the problem.
nlohmann::json read_vmmu_json(const std::filesystem::path& path);

// Throws std::invalid_argument unless the two documents share one "schema" (a run against a
// sweep is not a comparison of values).
void require_same_schema(const nlohmann::json& base, const nlohmann::json& now,
                         const std::string& base_name, const std::string& new_name);

// Throws std::invalid_argument unless pct is a finite percentage >= 0.
void check_tolerance(double pct);

// The exit status of a comparison that found values beyond the tolerance: distinct from 1
// (internal error) and from 2 (bad input), so CI can tell a regression from a crash.
constexpr int kExitValuesMoved = 5;

// The change table: engine/output/compare_report.h.

} // namespace vmmu
