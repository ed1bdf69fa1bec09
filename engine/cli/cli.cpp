#include "engine/cli/cli.h"

#include "engine/cli/cli_errors.h"
#include "engine/cli/commands.h"
#include "engine/core/elf_image.h"

#include "vmmu_version.h"

#include <capstone/capstone.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unicorn/unicorn.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>
#include <stdexcept>

namespace vmmu {

namespace {

std::string version_text() {
    unsigned uc_major = 0, uc_minor = 0;
    uc_version(&uc_major, &uc_minor);
    int cs_major = 0, cs_minor = 0;
    cs_version(&cs_major, &cs_minor);
    return fmt::format("vmmu {}\nUnicorn {}.{}, Capstone {}.{} (as linked)", kVmmuVersion, uc_major,
                       uc_minor, cs_major, cs_minor);
}

// `vmmu help [COMMAND...]`: the help of the app or of the command named.
void add_help_command(CLI::App& app, Action& action) {
    auto* c = app.add_subcommand("help", "describe vmmu, or one command: vmmu help study scaling");
    auto words = std::make_shared<std::vector<std::string>>();
    c->add_option("command", *words, "the command (and subcommand) to describe");
    c->callback([&app, words, &action] {
        action = [&app, words] {
            CLI::App* at = &app;
            std::string path = "vmmu";
            for (auto& w : *words) {
                CLI::App* next = nullptr;
                try {
                    next = at->get_subcommand(w);
                } catch (const CLI::OptionNotFound&) {
                }
                if (!next || w == "help") {
                    std::vector<std::string> names;
                    for (const CLI::App* s : at->get_subcommands({}))
                        if (s->get_name() != "help") names.push_back(s->get_name());
                    throw std::invalid_argument(
                        fmt::format("help: '{}' has no command '{}' (valid: {})", path, w,
                                    fmt::join(names, ", ")));
                }
                at = next;
                path += " " + w;
            }
            // The formatter directly: App::help would describe the `help` command itself (the
            // one parsed) and repeat the command's name after the prefix.
            fmt::print("{}", at->get_formatter()->make_help(at, path, CLI::AppFormatMode::Normal));
            return 0;
        };
    });
}

} // namespace

int cli_main(int argc, char** argv) {
    CLI::App app{"vmmu: measures what memory virtualization costs (native, shadow paging, SLAT) "
                 "on one real guest instruction stream"};
    app.require_subcommand(1);
    app.fallthrough(false);
    app.set_version_flag("--version", version_text(), "print vmmu's version and its libraries'");
    app.footer("Exit codes: 0 ok; 1 internal error; 2 bad input; 3 guest error; 4 oracle "
               "mismatch; 5 values moved (compare, baseline); 6 some runs of a sweep failed.\n"
               "'vmmu help COMMAND' or 'vmmu COMMAND --help' describes a command.");
    Action action;
    add_run_command(app, action);
    add_list_command(app, action);
    add_study_command(app, action);
    add_density_command(app, action);
    add_demo_command(app, action);
    add_quiz_command(app, action);
    add_validate_command(app, action);
    add_compare_command(app, action);
    add_baseline_command(app, action);
    add_sweep_command(app, action);
    add_report_command(app, action);
    add_export_command(app, action);
    add_cc_command(app, action);
    add_help_command(app, action);
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        // A near miss of a flag gets the one suggestion instead of CLI11's list of extras.
        std::string hint = unknown_flag_hint(app);
        if (!hint.empty()) {
            fmt::print(stderr, "vmmu: {}\n", hint);
        } else {
            fmt::print(stderr, "vmmu: {}\n", e.what());
            fmt::print(stderr, "{}\n", parse_error_choices(app));
        }
        fmt::print(stderr, "run 'vmmu --help' (or 'vmmu SUBCOMMAND --help') for details\n");
        return 2;
    }
    try {
        return action ? action() : 2;
    } catch (const ImageError& e) {
        fmt::print(stderr, "vmmu: bad guest image: {}\n", e.what());
        return 2;
    } catch (const std::invalid_argument& e) {
        fmt::print(stderr, "vmmu: {}\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        fmt::print(stderr, "vmmu: internal error: {}\n", e.what());
        return 1;
    }
}

} // namespace vmmu
