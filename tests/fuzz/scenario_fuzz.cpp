// libFuzzer: any bytes as a scenario file, through the same steps as `vmmu run --scenario` up to
// the file look-ups. Only std::invalid_argument may come out.
#include "engine/experiment/run_flags.h"
#include "engine/experiment/scenario.h"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <stdexcept>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto j = nlohmann::json::parse(data, data + size, nullptr, false);
    if (j.is_discarded()) return 0;
    try {
        vmmu::parse_run_args(vmmu::scenario_args(j, "fuzz"));
    } catch (const std::invalid_argument&) {
    }
    return 0;
}
