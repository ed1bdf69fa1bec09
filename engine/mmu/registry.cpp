#include "engine/mmu/registry.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <map>
#include <stdexcept>

namespace vmmu {
namespace {
std::map<std::string, BackendFactory>& registry() {
    static std::map<std::string, BackendFactory> r;
    return r;
}
} // namespace

bool register_backend(const std::string& name, BackendFactory factory) {
    registry()[name] = std::move(factory);
    return true;
}

std::unique_ptr<Backend> create_backend(const std::string& name, const BackendEnv& env) {
    auto it = registry().find(name);
    if (it == registry().end())
        throw std::invalid_argument(fmt::format("unknown backend '{}' (valid: {})", name,
                                                fmt::join(backend_names(), ", ")));
    return it->second(env);
}

std::vector<std::string> backend_names() {
    std::vector<std::string> names;
    for (auto& [n, f] : registry()) names.push_back(n);
    return names;
}

} // namespace vmmu
