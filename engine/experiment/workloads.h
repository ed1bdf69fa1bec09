// The workload catalogue (workloads/programs/manifest.json, copied to DATA/guest/): each guest
// program, what it does, and its parameters with their defaults and where each default comes from.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace vmmu {

struct WorkloadParam {
    std::string name;
    uint64_t default_value = 0;
    std::string description;
    std::string source;
    // The values the guest program accepts (manifest "min", "max", "power_of_two"), checked
    // before it boots rather than by the guest after its start-up.
    uint64_t min = 0, max = UINT64_MAX;
    bool power_of_two = false;
};

struct Workload {
    std::string name;
    std::string description;
    std::vector<WorkloadParam> params;
};

// Throws std::invalid_argument if the manifest is missing or malformed.
std::vector<Workload> load_workloads(const std::filesystem::path& guest_dir);
const Workload& find_workload(const std::vector<Workload>& all, const std::string& name);

// Applies "key=value" overrides to the defaults; unknown or repeated keys, bad numbers and values
// outside the parameter's range are rejected with the valid choices named.
std::map<std::string, uint64_t> resolve_params(const Workload& w,
                                               const std::vector<std::string>& overrides);
// The boot command line that runs it: "gups table_mib=64 updates=1000000".
std::string workload_cmdline(const std::string& name, const std::map<std::string, uint64_t>& params,
                             const std::vector<std::string>& order);

} // namespace vmmu
