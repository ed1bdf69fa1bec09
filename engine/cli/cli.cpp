#include "engine/cli/cli.h"

#include "engine/cli/cli_errors.h"
#include "engine/cli/commands.h"
#include "engine/core/elf_image.h"

#include <fmt/format.h>

#include <cstdio>
#include <stdexcept>

namespace vmmu {

int cli_main(int argc, char** argv) {
    CLI::App app{"vmmu: measures what memory virtualization costs (native, shadow paging, SLAT) "
                 "on one real guest instruction stream"};
    app.require_subcommand(1);
    app.fallthrough(false);
    Action action;
    add_run_command(app, action);
    add_list_command(app, action);
    add_study_command(app, action);
    add_density_command(app, action);
    add_demo_command(app, action);
    add_validate_command(app, action);
    add_compare_command(app, action);
    add_baseline_command(app, action);
    add_sweep_command(app, action);
    add_report_command(app, action);
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        fmt::print(stderr, "vmmu: {}\n", e.what());
        fmt::print(stderr, "{}\n", parse_error_choices(app));
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
