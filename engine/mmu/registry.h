// Name -> scheme. A scheme registers itself from its own .cpp with
// `static const bool registered = register_backend("name", factory);` and is built as object
// files, so the registration survives linking (docs/NEW-SCHEME.md).
#pragma once

#include "engine/mmu/backend.h"
#include "engine/mmu/backend_env.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace vmmu {

using BackendFactory = std::function<std::unique_ptr<Backend>(const BackendEnv&)>;

// One KEY=VALUE option a scheme accepts in BackendEnv::options, as `vmmu list` shows it.
struct SchemeOption {
    std::string key, default_value, meaning;
};

bool register_backend(const std::string& name, BackendFactory factory,
                      std::vector<SchemeOption> options = {});
// The options `name` registered (none for an unknown name).
std::vector<SchemeOption> backend_options(const std::string& name);
// Throws std::invalid_argument naming the known schemes when `name` is not one of them.
std::unique_ptr<Backend> create_backend(const std::string& name, const BackendEnv& env);
std::vector<std::string> backend_names();

} // namespace vmmu
