// The studies as text: the scaling study's summary of its vmmu.study.scaling/1 document.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace vmmu {

// Human-readable summary of a scaling study document.
std::string study_table(const nlohmann::ordered_json& study);

} // namespace vmmu
