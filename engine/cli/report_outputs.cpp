#include "engine/cli/report_outputs.h"

#include "engine/experiment/paths.h"
#include "engine/output/compare_report.h"

#include <fmt/format.h>

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
