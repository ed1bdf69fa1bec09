// `vmmu report FILES... -o OUT.html [--title T]`: the HTML report of report/make_report.py, run
// from the data directory (engine/experiment/paths.h) by the system interpreter, the one that has
// Debian's python3-matplotlib, whatever python3 comes first on PATH.
#include "engine/cli/cli_errors.h"
#include "engine/cli/commands.h"
#include "engine/experiment/paths.h"

#include <fmt/format.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <memory>
#include <spawn.h>
#include <stdexcept>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

extern char** environ;

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

// Runs the script and returns its exit status, or 128 + the signal that ended it.
int run_report_script(const fs::path& script, const ReportArgs& a) {
    std::vector<std::string> argv = {report_interpreter(), script.string()};
    argv.insert(argv.end(), a.files.begin(), a.files.end());
    argv.insert(argv.end(), {"-o", a.output});
    if (!a.title.empty()) argv.insert(argv.end(), {"--title", a.title});
    std::vector<char*> cargv;
    for (auto& s : argv) cargv.push_back(s.data());
    cargv.push_back(nullptr);
    pid_t pid = 0;
    int err = posix_spawnp(&pid, cargv[0], nullptr, nullptr, cargv.data(), environ);
    if (err != 0) {
        fmt::print(stderr,
                   "vmmu report: cannot run {}: {}; install python3 and "
                   "python3-matplotlib (apt-get install python3-matplotlib)\n",
                   argv[0], std::strerror(err));
        return 1;
    }
    // Like system(): Ctrl-C reaches the script (same process group), which decides the outcome.
    auto old_int = std::signal(SIGINT, SIG_IGN), old_quit = std::signal(SIGQUIT, SIG_IGN);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    std::signal(SIGINT, old_int);
    std::signal(SIGQUIT, old_quit);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

} // namespace

void add_report_command(CLI::App& app, Action& action) {
    auto a = std::make_shared<ReportArgs>();
    auto* c = app.add_subcommand(
        "report", "the HTML report (charts embedded) of vmmu.run/1, vmmu.study.scaling/1 and "
                  "vmmu.study.density/1 files, by make_report.py under /usr/bin/python3");
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
