// `vmmu demo walk --html`: one self-contained offline page (inline style and script, no network
// request) stepping through the 2D walk's grid; the walks are vmmu.demo.walk/1 embedded as JSON,
// computed by the models, never recomputed by the page.
#pragma once

#include "engine/experiment/walk_demo.h"

#include <string>

namespace vmmu {

std::string walk_demo_html(const WalkDemo& d);

} // namespace vmmu
