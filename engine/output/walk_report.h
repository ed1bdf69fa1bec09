// `vmmu demo walk` as text and as the vmmu.demo.walk/1 document: the 1D walks' references and
// the 2D walk's grid (engine/experiment/walk_demo.h builds the model).
#pragma once

#include "engine/experiment/walk_demo.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace vmmu {

// The grid as a table of 5 rows and nested levels + 1 columns; warm: each cell's warm mark ("read",
// "saved: PWC", ...) instead of its address.
std::string grid_text(const WalkGrid& g, bool warm);
// The grid's referenced cells, in row order.
nlohmann::ordered_json grid_json(const WalkGrid& g);

// A page-table entry in words: "P W U NX -> table gPA 0x..." or "... PS -> 2M page gPA 0x...";
// `space` names the address space its frame is in.
std::string decode_entry(uint64_t entry, int level, const char* space);

std::string walk_demo_text(const WalkDemo& d);
nlohmann::ordered_json walk_demo_json(const WalkDemo& d); // vmmu.demo.walk/1

} // namespace vmmu
