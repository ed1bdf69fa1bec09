// What a comparison found, as text: the table of changed values and a one-line summary.
#pragma once

#include "engine/experiment/compare.h"

#include <string>

namespace vmmu {

// The change table (or nothing when nothing changed), and a one-line summary.
std::string change_table(const CompareResult& r, double tolerance_pct);

} // namespace vmmu
