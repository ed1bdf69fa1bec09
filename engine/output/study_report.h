// The studies as text and JSON: the scaling study's vmmu.study.scaling/1 document and its
// summary, and the density study's vmmu.study.density/1 document and table.
#pragma once

#include "engine/experiment/density.h"
#include "engine/experiment/scaling_study.h"
#include "engine/experiment/study.h"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace vmmu {

// The scaling study document of finished (or failed) runs. `config`: how they were made
// (study_config_json; an empty object where no study ran them). `interrupted`: the study was
// stopped before every K ran.
nlohmann::ordered_json study_json(const std::vector<StudyRun>& runs, const StudyHost& host,
                                  const nlohmann::ordered_json& config, bool interrupted,
                                  double wall_seconds);
// The document's "config": the K and everything else the runs were given.
nlohmann::ordered_json study_config_json(const ScalingConfig& config, const StudyHost& host);
// The whole vmmu.study.scaling/1 document of a study that ran.
nlohmann::ordered_json study_json(const ScalingStudy& study);

// Human-readable summary of a scaling study document.
std::string study_table(const nlohmann::ordered_json& study);
// The sensitivity grid (engine/experiment/sensitivity.h) as the study document's "sensitivity"
// object, and as a console table: the ratio at each (working set, think time) by work per
// launch, at the study's A, with how many points of the whole grid lie in the published band.
nlohmann::ordered_json sensitivity_json(const SensitivityGrid& grid);
std::string sensitivity_table(const nlohmann::ordered_json& sensitivity);

// "  3 VMs (dedup): fits", printed as the density study measures each N.
std::string density_point_line(const DensityRow& row, bool dedup);

struct DensityReport {
    nlohmann::ordered_json doc; // vmmu.study.density/1
    std::string table;          // per backend: VMs, what bounds them, and slat/shadow
};
DensityReport density_report(const DensityStudy& study);

} // namespace vmmu
