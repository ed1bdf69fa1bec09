#include "engine/cli/cli_errors.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <vector>

namespace vmmu {

std::string parse_error_choices(const CLI::App& app) {
    // CLI11 records each subcommand as it reaches it, so the last one is where parsing stopped.
    const CLI::App* at = &app;
    std::string path = "vmmu";
    while (!at->get_subcommands().empty()) {
        at = at->get_subcommands().back();
        path += " " + at->get_name();
    }
    std::vector<std::string> subs;
    for (const CLI::App* s : at->get_subcommands({})) subs.push_back(s->get_name());
    if (!subs.empty() && at->get_require_subcommand_min() > 0) {
        // CLI11 only says a subcommand is required; name the word it did not recognise.
        std::vector<std::string> left = at->remaining();
        std::string unknown = left.empty() ? "" : fmt::format("unknown subcommand '{}'; ", left[0]);
        return fmt::format("{}valid subcommands{}: {}", unknown,
                           at == &app ? "" : " of '" + path + "'", fmt::join(subs, ", "));
    }
    std::vector<std::string> flags;
    for (const CLI::Option* o : at->get_options()) {
        std::string n = o->get_name();
        if (n.rfind("--", 0) == 0 && n != "--help") flags.push_back(n);
    }
    std::string s = fmt::format("valid flags for '{}': {}", path, fmt::join(flags, ", "));
    if (!subs.empty()) s += fmt::format("; subcommands: {}", fmt::join(subs, ", "));
    return s;
}

} // namespace vmmu
