// Looking up what a whole run produced, for the tests that run guests through engine/cli.
#pragma once

#include "engine/experiment/run.h"

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace vmmu::test_results {

inline const BackendResult& find_backend(const std::vector<BackendResult>& backends,
                                         const std::string& name) {
    for (auto& b : backends)
        if (b.name == name) return b;
    throw std::runtime_error("no backend " + name);
}

// A backend's details counter, 0 when the backend never counted it.
inline uint64_t detail(const BackendResult& b, const char* key) {
    auto it = b.counters.details.find(key);
    return it == b.counters.details.end() ? 0 : it->second;
}

// The checksum the workload reported through its hypercall.
inline uint64_t checksum(const RunOutput& r) {
    return r.result.reported.at(r.workload.name + ".checksum");
}

} // namespace vmmu::test_results
