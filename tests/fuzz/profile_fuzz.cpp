// libFuzzer: any bytes as a CPU profile. The parser may reject them only with
// std::invalid_argument naming a key; a crash, a sanitizer report or any other exception is a bug.
#include "engine/mmu/profile.h"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <stdexcept>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto j = nlohmann::json::parse(data, data + size, nullptr, false);
    if (j.is_discarded()) return 0;
    try {
        vmmu::parse_profile(j, "fuzz");
    } catch (const std::invalid_argument&) {
    }
    return 0;
}
