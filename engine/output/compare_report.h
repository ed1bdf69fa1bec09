// What a comparison found, as text (the change table and summary lines), Markdown (for a CI step
// summary), JUnit XML (for CI test reporters) or JSON (vmmu.compare/1).
#pragma once

#include "engine/experiment/compare.h"

#include <string>

namespace vmmu {

// The change table (or nothing when nothing changed), and a one-line summary.
std::string change_table(const CompareResult& r, double tolerance_pct);

enum class CompareFormat { Text, Markdown, Junit, Json };
// "text", "markdown", "junit", "json"; throws std::invalid_argument naming the choices.
CompareFormat parse_compare_format(const std::string& name);

// Where a value sits: "backends.slat.walks.refs" -> backend slat, group walks, counter refs;
// "runs.NAME.result.backends..." (a merged sweep) and "vms[0].backends..." also name the run.
struct ValuePlace {
    std::string run;     // the run inside the document ("" for a single run)
    std::string window;  // "roi" for windows.roi.REST (a run measured in windows), else ""
    std::string backend; // "" outside `backends`
    std::string group;   // tlb, walks, exits, details, cycles; guest, workload, ... outside
    std::string counter; // the rest of the path
};
ValuePlace place_of(const std::string& path);

std::string comparison_text(const ComparisonReport& r);
std::string comparison_markdown(const ComparisonReport& r);
// One testsuite per run, one testcase per backend x counter group (or top-level group), a
// failure naming every value that moved beyond the tolerance, an error for a run that could not
// be compared. `timestamp` is ISO 8601 (the report's only host-dependent field, with hostname).
std::string comparison_junit(const ComparisonReport& r, const std::string& timestamp,
                             const std::string& hostname);
std::string comparison_json(const ComparisonReport& r);
std::string format_comparison(const ComparisonReport& r, CompareFormat f);

} // namespace vmmu
