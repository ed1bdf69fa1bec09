// Name -> scheme. A scheme registers itself from its own .cpp with
// `static const bool registered = register_backend("name", factory);` and is built as object
// files, so the registration survives linking (docs/NEW-SCHEME.md).
#pragma once

#include "engine/mmu/backend.h"
#include "engine/mmu/backend_env.h"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace vmmu {

using BackendFactory = std::function<std::unique_ptr<Backend>(const BackendEnv&)>;

// One KEY=VALUE option a scheme accepts in BackendEnv::options, as `vmmu list` shows it. An
// integer option gives its range (max > 0); parse_scheme_options checks it.
struct SchemeOption {
    std::string key, default_value, meaning;
    uint64_t min = 0, max = 0;
};

bool register_backend(const std::string& name, BackendFactory factory,
                      std::vector<SchemeOption> options = {});
// The options `name` registered (none for an unknown name).
std::vector<SchemeOption> backend_options(const std::string& name);
// The integer options `name` registered, each from `options` or its default: an unknown key, or
// for an integer option a value that is not an integer or lies outside its range, throws
// std::invalid_argument naming the key, the range and the flag (--NAME-opt).
std::map<std::string, uint64_t>
parse_scheme_options(const std::string& name, const std::map<std::string, std::string>& options);
// Throws std::invalid_argument naming the known schemes when `name` is not one of them.
std::unique_ptr<Backend> create_backend(const std::string& name, const BackendEnv& env);
std::vector<std::string> backend_names();

} // namespace vmmu
