// `vmmu validate`'s verdicts as text and as the vmmu.validate/1 document.
#pragma once

#include "engine/experiment/validate.h"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace vmmu {

// Each check's claim, source, measurement and criterion, then how many agree.
std::string validate_text(const std::vector<ValidationCheck>& checks, double wall_seconds);
nlohmann::ordered_json validate_json(const std::vector<ValidationCheck>& checks,
                                     double wall_seconds);

} // namespace vmmu
