#include "engine/cli/report_outputs.h"

#include "engine/experiment/paths.h"
#include "engine/output/compare_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace vmmu {

void ReportOutputs::add(CLI::App* c) {
    c->add_option("--format", formats,
                  "report format: text (default), markdown (a CI step summary), junit (JUnit "
                  "XML for test reporters) or json (vmmu.compare/1); repeatable, one per "
                  "--output");
    c->add_option("--output,-o", outputs,
                  "write the report to FILE instead of stdout (repeatable: the Nth --output "
                  "takes the Nth --format); the text report still goes to stdout");
    c->add_flag("--strict-provenance", strict_provenance,
                "fail (exit 5) when the documents' provenance differs beyond vmmu's own version "
                "(input hashes, Unicorn or Capstone version, --set overrides, configuration); "
                "without it a difference is a warning");
}

void ReportOutputs::check() const {
    for (auto& f : formats) parse_compare_format(f);
    if (outputs.empty() && formats.size() > 1)
        throw std::invalid_argument(
            fmt::format("{} formats and no --output: give one --output FILE per --format (only "
                        "one report can go to stdout)",
                        formats.size()));
    if (!outputs.empty() && outputs.size() != std::max<size_t>(formats.size(), 1))
        throw std::invalid_argument(fmt::format(
            "{} --output files for {} --format: give one --output FILE per --format, in order",
            outputs.size(), std::max<size_t>(formats.size(), 1)));
    for (auto& o : outputs) check_output_file(o, "--output");
}

void ReportOutputs::write(const ComparisonReport& r) const {
    if (outputs.empty()) {
        fmt::print("{}", format_comparison(
                             r, parse_compare_format(formats.empty() ? "text" : formats.front())));
        return;
    }
    for (size_t i = 0; i < outputs.size(); ++i)
        write_file_atomic(
            outputs[i],
            format_comparison(r, parse_compare_format(formats.empty() ? "text" : formats[i])));
    fmt::print("{}", comparison_text(r));
}

void PolicyFlags::add(CLI::App* c) {
    c->add_option("--floor", floor,
                  "absolute floor: a value that moves by at most this much never counts, so 0 -> "
                  "1 is judged as a move of 1, not +inf % (default 0)");
    c->add_flag("--regressions-only", regressions_only,
                "only moves the bad way fail (more cycles, exits, TLB misses, walk references, "
                "flushes; fewer page-walk-cache hits); improvements are reported, not failed");
    c->add_option("--tolerance-for", tolerance_for,
                  "PATTERN=PCT: the tolerance of the values whose path matches the shell glob "
                  "(\"*.cycles.*=1\"); repeatable, the last match wins");
    c->add_option("--ignore", ignore,
                  "PATTERN: leave the values whose path matches the shell glob out "
                  "(\"*.details.hv_refs\"); repeatable");
    c->add_option("--tolerance-file", file,
                  "vmmu.tolerance/1 JSON: tolerance, floor, regressions_only, counters "
                  "{PATTERN: PCT}, ignore [PATTERN]; flags given as well come after it");
}

ComparePolicy PolicyFlags::policy(double tolerance) const {
    ComparePolicy p;
    if (!file.empty()) p = load_tolerance_file(file);
    if (tolerance_given || file.empty()) p.tolerance_pct = tolerance;
    if (floor && !(*floor >= 0 && std::isfinite(*floor)))
        throw std::invalid_argument(
            fmt::format("--floor {}: give an absolute amount >= 0 (e.g. 1)", *floor));
    if (floor) p.floor = *floor;
    p.regressions_only |= regressions_only;
    for (auto& t : tolerance_for) {
        auto eq = t.rfind('=');
        double pct = -1;
        if (eq != std::string::npos && eq > 0) {
            try {
                size_t used = 0;
                pct = std::stod(t.substr(eq + 1), &used);
                if (used != t.size() - eq - 1) pct = -1;
            } catch (const std::exception&) {
                pct = -1;
            }
        }
        if (!(pct >= 0) || !std::isfinite(pct))
            throw std::invalid_argument(fmt::format(
                "--tolerance-for '{}': expected PATTERN=PCT with PCT a finite percentage >= 0 "
                "(e.g. '*.cycles.*=1')",
                t));
        p.tolerances.emplace_back(t.substr(0, eq), pct);
    }
    p.ignore.insert(p.ignore.end(), ignore.begin(), ignore.end());
    return p;
}

void Exports::add(CLI::App* c) {
    c->add_option("--export", pairs,
                  "FORMAT FILE: also write the results for a benchmark dashboard: gbench "
                  "(Google Benchmark JSON, for its compare.py or github-action-benchmark) or bmf "
                  "(Bencher Metric Format); repeatable")
        ->expected(2)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
}

void Exports::check() const {
    for (size_t i = 0; i + 1 < pairs.size(); i += 2) {
        parse_export_format(pairs[i]);
        check_output_file(pairs[i + 1], "--export " + pairs[i]);
    }
}

void Exports::write(const std::vector<ExportRun>& runs) const {
    for (size_t i = 0; i + 1 < pairs.size(); i += 2) {
        write_file_atomic(pairs[i + 1], export_document(runs, parse_export_format(pairs[i])));
        fmt::print("wrote {} ({})\n", pairs[i + 1], pairs[i]);
    }
}

} // namespace vmmu
