#include "engine/cli/cli_errors.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace vmmu {

namespace {

// Levenshtein distance: how many single-letter edits turn `a` into `b`.
size_t edit_distance(const std::string& a, const std::string& b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        size_t diagonal = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            size_t above = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
            diagonal = above;
        }
    }
    return row[b.size()];
}

} // namespace

std::string nearest_flag(const std::string& unknown, const std::vector<std::string>& flags) {
    std::string word = unknown.substr(0, unknown.find('='));
    std::string best;
    size_t best_distance = SIZE_MAX;
    for (auto& f : flags) {
        size_t d = edit_distance(word, f);
        if (d < best_distance) {
            best_distance = d;
            best = f;
        }
    }
    // A third of the word may be wrong: more is a different flag, not a typo of this one.
    return best_distance <= std::max<size_t>(2, word.size() / 3) ? best : "";
}

std::string unknown_flag_hint(const CLI::App& app) {
    const CLI::App* at = &app;
    std::string path = "vmmu";
    while (!at->get_subcommands().empty()) {
        at = at->get_subcommands().back();
        path += " " + at->get_name();
    }
    std::vector<std::string> flags;
    for (const CLI::Option* o : at->get_options()) {
        std::string n = o->get_name();
        if (n.rfind("--", 0) == 0) flags.push_back(n);
    }
    for (const std::string& word : at->remaining()) {
        if (word.rfind("-", 0) != 0) continue;
        std::string near = nearest_flag(word, flags);
        if (!near.empty())
            return fmt::format("unknown flag '{}' for '{}': did you mean {}?", word, path, near);
    }
    return "";
}

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
