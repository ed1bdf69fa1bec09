// `vmmu report FILES... -o OUT.html [--title T]`: the HTML report of report/make_report.py, run
// from the data directory (engine/experiment/paths.h) by the system interpreter, the one that has
// Debian's python3-matplotlib, whatever python3 comes first on PATH.
#include "engine/cli/cli_errors.h"
#include "engine/cli/commands.h"
#include "engine/experiment/paths.h"
#include "engine/experiment/process_pool.h"

#include <fmt/format.h>

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <vector>

namespace vmmu {
namespace fs = std::filesystem;

namespace {

struct ReportArgs {
    std::vector<std::string> files;
    std::string output, title;
};

// /usr/bin/python3 is Debian's, with python3-matplotlib; a python3 earlier on PATH (a venv,
// conda) usually lacks it. PATH is the fallback only where there is no system interpreter.
std::string report_interpreter() {
    return ::access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
}

void check_report_inputs(const ReportArgs& a) {
    for (auto& f : a.files) {
        std::error_code ec;
        if (!fs::exists(f, ec))
            throw std::invalid_argument(fmt::format(
                "report: '{}' does not exist: give vmmu JSON files (vmmu run --json FILE, "
                "vmmu study scaling --out DIR writes DIR/study.json)",
                f));
        if (!fs::is_regular_file(f, ec))
            throw std::invalid_argument(
                fmt::format("report: '{}' is not a file: give vmmu JSON files", f));
    }
    check_output_file(a.output, "-o");
}

// Runs the script (a child of the process pool, so Ctrl-C or SIGTERM to vmmu reaches it as
// SIGTERM) and returns its exit status, 128 + the signal that ended it, or 128 + the signal that
// stopped vmmu.
int run_report_script(const fs::path& script, const ReportArgs& a) {
    ChildJob job;
    job.argv = {report_interpreter(), script.string()};
    job.argv.insert(job.argv.end(), a.files.begin(), a.files.end());
    job.argv.insert(job.argv.end(), {"-o", a.output});
    if (!a.title.empty()) job.argv.insert(job.argv.end(), {"--title", a.title});
    PoolResult r = run_pool({job}, PoolOptions{});
    const ChildStatus& s = r.children.front();
    if (!s.start_error.empty()) {
        fmt::print(stderr,
                   "vmmu report: {}; install python3 and "
                   "python3-matplotlib (apt-get install python3-matplotlib)\n",
                   s.start_error);
        return 2;
    }
    if (r.signal) return r.exit_code();
    return s.exit_code;
}

} // namespace

void add_report_command(CLI::App& app, Action& action) {
    auto a = std::make_shared<ReportArgs>();
    auto* c = app.add_subcommand(
        "report", "the HTML report (a summary, then charts embedded) of vmmu.run/1, "
                  "vmmu.study.scaling/1, vmmu.study.density/1 and vmmu.sweep/1 files, by "
                  "make_report.py under /usr/bin/python3");
    c->add_option("files", a->files, "vmmu JSON files")->required();
    c->add_option("-o,--output", a->output, "HTML file to write")
        ->required()
        ->check(non_empty_path());
    c->add_option("--title", a->title, "the report's title (default: vmmu report)");
    c->callback([&action, a] {
        action = [a] {
            check_report_inputs(*a);
            fs::path script = report_script();
            std::error_code ec;
            if (!fs::is_regular_file(script, ec))
                throw std::invalid_argument(fmt::format(
                    "report: no report script at {}: reinstall with 'cmake --install BUILD "
                    "--prefix P', or rebuild (cmake --build BUILD)",
                    script.string()));
            return run_report_script(script, *a);
        };
    });
}

} // namespace vmmu
