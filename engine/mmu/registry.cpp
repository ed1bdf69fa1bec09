#include "engine/mmu/registry.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <map>
#include <stdexcept>

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
