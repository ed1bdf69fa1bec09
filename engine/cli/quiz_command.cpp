// `vmmu quiz`: exercises from a seed, answered by the models (engine/experiment/quiz.h).
#include "engine/cli/commands.h"
#include "engine/experiment/quiz.h"
#include "engine/output/quiz_report.h"

#include <fmt/format.h>

#include <memory>

namespace vmmu {

namespace {
struct QuizFlags {
    uint64_t seed = 1;
    std::string topic = "all";
    unsigned count = 5;
    bool answers = false;
};
} // namespace

void add_quiz_command(CLI::App& app, Action& action) {
    auto* q = app.add_subcommand("quiz", "exercises on 2D walks and translations, generated from "
                                         "a seed and answered by vmmu's own models");
    auto f = std::make_shared<QuizFlags>();
    q->add_option("--seed", f->seed, "the same seed gives the same quiz")->capture_default_str();
    q->add_option("--topic", f->topic, "walk or all")->capture_default_str();
    q->add_option("--count", f->count, "questions")->capture_default_str();
    q->add_flag("--answers", f->answers, "print the answers and worked solutions");
    q->callback([f, &action] {
        action = [f] {
            auto quiz = make_quiz(f->seed, f->topic, f->count);
            fmt::print("{}", quiz_text(quiz, f->seed, f->answers));
            return 0;
        };
    });
}

} // namespace vmmu
