// `--format F` and `--output FILE` of `vmmu compare` and `vmmu baseline check`: which renderings
// of the comparison are written where (engine/output/compare_report.h formats them).
#pragma once

#include <optional>

#include "engine/experiment/compare.h"
#include "engine/output/bench_export.h"

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace vmmu {

struct ReportOutputs {
    std::vector<std::string> formats; // text, markdown, junit, json (repeatable)
    std::vector<std::string> outputs; // one file per format, in order
    bool strict_provenance = false;   // differing inputs or libraries fail the comparison

    void add(CLI::App* c);
    // Checks the formats and that every output file can be written (exit 2 before any work).
    void check() const;
    // Without --output: the one format on stdout. With it: each format to its file (atomically)
    // and the text report on stdout as well, for the console log.
    void write(const ComparisonReport& r) const;
};

// How far values may move: --floor, --regressions-only, --tolerance-for, --ignore and
// --tolerance-file of compare and baseline check (--tolerance is each command's own).
struct PolicyFlags {
    std::string file;
    std::optional<double> floor; // unset: the file's, else 0
    bool regressions_only = false;
    std::vector<std::string> tolerance_for; // PATTERN=PCT
    std::vector<std::string> ignore;        // PATTERN
    bool tolerance_given = false;           // --tolerance on the command line

    void add(CLI::App* c);
    // The file first (when given), then the flags; throws std::invalid_argument naming a bad
    // file, pattern or percentage.
    ComparePolicy policy(double tolerance) const;
};

// `--export gbench FILE` / `--export bmf FILE` (repeatable) of run, sweep and baseline check.
struct Exports {
    std::vector<std::string> pairs; // FORMAT FILE FORMAT FILE ...

    void add(CLI::App* c);
    bool empty() const { return pairs.empty(); }
    // Checks the formats and that every file can be written (exit 2 before any work).
    void check() const;
    void write(const std::vector<ExportRun>& runs) const;
};

} // namespace vmmu
