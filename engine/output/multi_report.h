// Several VMs on one host as `vmmu.multi/1` JSON and as text tables.
#pragma once

#include "engine/experiment/multi_vm.h"

#include <nlohmann/json.hpp>

#include <string>

namespace vmmu {

nlohmann::ordered_json multi_json(const MultiOutput& out);
std::string multi_table(const MultiOutput& out);

} // namespace vmmu
