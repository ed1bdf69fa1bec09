// `vmmu export csv FILES... [-o OUT]`: vmmu documents as one tidy CSV table.
#include "engine/cli/commands.h"
#include "engine/experiment/paths.h"
#include "engine/output/csv_export.h"

#include <fmt/format.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace vmmu {
namespace fs = std::filesystem;

namespace {

struct ExportArgs {
    std::vector<std::string> files;
    std::string out;
};

int export_csv(const ExportArgs& a) {
    if (a.files.empty())
        throw std::invalid_argument("vmmu export csv needs at least one vmmu JSON document");
    if (!a.out.empty()) check_output_file(a.out, "-o");
    std::vector<CsvInput> inputs;
    for (auto& f : a.files) {
        if (!fs::is_regular_file(f))
            throw std::invalid_argument(fmt::format(
                "cannot read '{}': no such file (give JSON documents written by vmmu run, "
                "sweep or study)",
                f));
        std::string text = read_text(f);
        nlohmann::ordered_json doc;
        try {
            doc = nlohmann::ordered_json::parse(text);
        } catch (const nlohmann::json::exception& e) {
            throw std::invalid_argument(fmt::format("'{}' is not valid JSON ({}): regenerate it "
                                                    "with vmmu",
                                                    f, json_error_text(text, e)));
        }
        inputs.push_back({f, std::move(doc)});
    }
    std::string csv = tidy_csv(inputs);
    if (a.out.empty())
        fmt::print("{}", csv);
    else
        write_file_atomic(a.out, csv);
    return 0;
}

} // namespace

void add_export_command(CLI::App& app, Action& action) {
    auto* c = app.add_subcommand("export", "convert vmmu JSON documents for other tools");
    c->require_subcommand(1);
    auto a = std::make_shared<ExportArgs>();
    auto* csv = c->add_subcommand(
        "csv", "tidy CSV for pandas, R and spreadsheets: one row per run x VM x backend x "
               "window, one column per counter (vmmu.run/1, vmmu.multi/1, vmmu.sweep/1, "
               "vmmu.study.scaling/1, vmmu.study.density/1)");
    csv->add_option("files", a->files, "vmmu JSON documents")->required();
    csv->add_option("-o,--output", a->out, "write the CSV here (default: stdout)");
    csv->callback([a, &action] { action = [a] { return export_csv(*a); }; });
}

} // namespace vmmu
