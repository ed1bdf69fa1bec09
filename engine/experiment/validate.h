// `vmmu validate`: a fixed set of checks of the model against published findings (each check
// names its source; results/VALIDATION.md lists them). Each holds the claim, its source, what
// vmmu measures and whether they agree. A disagreement is a result, not a failure.
#pragma once

#include "engine/experiment/study.h"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace vmmu {

struct ValidationCheck {
    std::string id, claim, source, criterion;
    std::string measured = {};           // the figure, in words
    std::string window = {};             // the window it was computed on (README.md "Windows")
    nlohmann::ordered_json figures = {}; // the numbers behind it
    bool agrees = false;
    std::string personality = "none"; // the --hypervisor the check's runs used
};

// Called before each step with the steps done, their total and what runs next.
using ValidationProgress = std::function<void(size_t done, size_t total, const std::string& next)>;

// Runs every check, in their fixed order. `document` turns a run into its vmmu.run/1 JSON, which
// the sessions check reads as the scaling study does.
std::vector<ValidationCheck> run_validation(const RunDocument& document,
                                            const ValidationProgress& progress);

} // namespace vmmu
