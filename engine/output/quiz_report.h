// `vmmu quiz` as text: numbered questions, and with answers their answers and worked solutions.
#pragma once

#include "engine/experiment/quiz.h"

#include <cstdint>
#include <string>
#include <vector>

namespace vmmu {

std::string quiz_text(const std::vector<QuizQuestion>& quiz, uint64_t seed, bool answers);

} // namespace vmmu
