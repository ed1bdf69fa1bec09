// `vmmu validate`: flags, progress and output of the model's checks against published findings
// (engine/experiment/validate.h). A disagreement is a result, not a failure: the command exits 0
// either way.
#include "engine/cli/cli_errors.h"
#include "engine/cli/commands.h"
#include "engine/cli/progress.h"
#include "engine/experiment/paths.h"
#include "engine/experiment/validate.h"
#include "engine/output/run_report.h"
#include "engine/output/validate_report.h"

#include <fmt/format.h>

#include <chrono>
#include <optional>

namespace vmmu {

namespace {

int run_validate(const std::string& json_path) {
    if (!json_path.empty()) check_output_file(json_path, "--json");
    auto start = std::chrono::steady_clock::now();
    std::optional<ProgressBar> bar;
    auto progress = [&](size_t done, size_t total, const std::string& next) {
        if (!bar) bar.emplace("validate", total);
        bar->update(done, next);
    };
    std::vector<ValidationCheck> checks = run_validation(run_json, progress);
    if (bar) bar->finish();
    double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    fmt::print("{}", validate_text(checks, wall));
    if (!json_path.empty()) {
        write_file_atomic(json_path, validate_json(checks, wall).dump(2) + "\n");
        fmt::print("wrote {}\n", json_path);
    }
    return 0;
}

} // namespace

void add_validate_command(CLI::App& app, Action& action) {
    auto* c = app.add_subcommand("validate", "check the model against published findings "
                                             "(docs/ANCHORS.md); exits 0 whatever the verdicts");
    auto json_path = std::make_shared<std::string>();
    c->add_option("--json", *json_path, "write the verdicts as vmmu.validate/1 JSON here")
        ->check(non_empty_path());
    c->callback(
        [json_path, &action] { action = [json_path] { return run_validate(*json_path); }; });
}

} // namespace vmmu
