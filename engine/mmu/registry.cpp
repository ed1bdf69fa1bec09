#include "engine/mmu/registry.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace vmmu {
namespace {
struct Entry {
    BackendFactory factory;
    std::vector<SchemeOption> options;
};
std::map<std::string, Entry>& registry() {
    static std::map<std::string, Entry> r;
    return r;
}
} // namespace

bool register_backend(const std::string& name, BackendFactory factory,
                      std::vector<SchemeOption> options) {
    registry()[name] = {std::move(factory), std::move(options)};
    return true;
}

std::vector<SchemeOption> backend_options(const std::string& name) {
    auto it = registry().find(name);
    return it == registry().end() ? std::vector<SchemeOption>{} : it->second.options;
}

std::map<std::string, uint64_t>
parse_scheme_options(const std::string& name, const std::map<std::string, std::string>& options) {
    std::vector<SchemeOption> known = backend_options(name);
    std::map<std::string, uint64_t> values;
    std::vector<std::string> keys;
    for (auto& k : known) {
        keys.push_back(k.key);
        if (k.max > 0) values[k.key] = std::stoull(k.default_value);
    }
    for (auto& option : options) {
        // Named copies: a lambda may not capture a structured binding (C++17, clang).
        const std::string& key = option.first;
        const std::string& value = option.second;
        auto it = std::find_if(known.begin(), known.end(),
                               [&](const SchemeOption& k) { return k.key == key; });
        if (it == known.end())
            throw std::invalid_argument(fmt::format("--{}-opt {}={}: unknown {} option (valid: {})",
                                                    name, key, value, name, fmt::join(keys, ", ")));
        if (it->max == 0) continue; // not an integer option: the scheme reads it itself
        uint64_t v = 0;
        auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
        if (ec != std::errc() || end != value.data() + value.size() || v < it->min || v > it->max)
            throw std::invalid_argument(
                fmt::format("--{}-opt {}={}: expected an integer from {} to {} (default {})", name,
                            key, value, it->min, it->max, it->default_value));
        values[key] = v;
    }
    return values;
}

std::unique_ptr<Backend> create_backend(const std::string& name, const BackendEnv& env) {
    auto it = registry().find(name);
    if (it == registry().end())
        throw std::invalid_argument(fmt::format("unknown backend '{}' (valid: {})", name,
                                                fmt::join(backend_names(), ", ")));
    return it->second.factory(env);
}

std::vector<std::string> backend_names() {
    std::vector<std::string> names;
    for (auto& [n, f] : registry()) names.push_back(n);
    return names;
}

} // namespace vmmu
