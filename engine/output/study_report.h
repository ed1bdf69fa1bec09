// The studies as text and JSON: the scaling study's summary of its vmmu.study.scaling/1 document,
// and the density study's vmmu.study.density/1 document and table.
#pragma once

#include "engine/experiment/density.h"

#include <nlohmann/json.hpp>

#include <string>

namespace vmmu {

// Human-readable summary of a scaling study document.
std::string study_table(const nlohmann::ordered_json& study);

// "  3 VMs (dedup): fits", printed as the density study measures each N.
std::string density_point_line(const DensityRow& row, bool dedup);

struct DensityReport {
    nlohmann::ordered_json doc; // vmmu.study.density/1
    std::string table;          // per backend: VMs, what bounds them, and slat/shadow
};
DensityReport density_report(const DensityStudy& study);

} // namespace vmmu
