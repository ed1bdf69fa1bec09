// `vmmu quiz --html`: the quiz as one self-contained offline page (inline style and script, a
// content-security policy forbidding every request) whose answers are hidden until a student
// reveals them, one question (or one step of a sequence) at a time.
#pragma once

#include "engine/experiment/quiz.h"

#include <cstdint>
#include <string>
#include <vector>

namespace vmmu {

std::string quiz_html(const std::vector<QuizQuestion>& quiz, uint64_t seed);

} // namespace vmmu
