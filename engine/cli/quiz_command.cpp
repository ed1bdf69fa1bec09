// `vmmu quiz`: exercises from a seed, answered by the models (engine/experiment/quiz.h).
#include "engine/cli/commands.h"
#include "engine/experiment/paths.h"
#include "engine/experiment/quiz.h"
#include "engine/output/quiz_html.h"
#include "engine/output/quiz_report.h"

#include <fmt/format.h>

#include <filesystem>
#include <memory>
#include <stdexcept>

namespace vmmu {

namespace {
struct QuizFlags {
    uint64_t seed = 1;
    std::string topic = "all";
    unsigned count = 5;
    bool answers = false;
    std::string html;
};
} // namespace

void add_quiz_command(CLI::App& app, Action& action) {
    auto* q = app.add_subcommand("quiz", "exercises on 2D walks, translations, shadow-paging "
                                         "exits and TLB hits, generated from a seed and "
                                         "answered by vmmu's own models");
    auto f = std::make_shared<QuizFlags>();
    q->add_option("--seed", f->seed, "the same seed gives the same quiz")->capture_default_str();
    q->add_option("--topic", f->topic, "walk, exits, tlb or all")->capture_default_str();
    q->add_option("--count", f->count, "questions")->capture_default_str();
    q->add_flag("--answers", f->answers, "print the answers and worked solutions");
    q->add_option("--html", f->html,
                  "write a self-contained offline page with the answers hidden until revealed");
    q->callback([f, &action] {
        action = [f] {
            if (!f->html.empty()) {
                namespace fs = std::filesystem;
                fs::path dir = fs::absolute(f->html).parent_path();
                if (!fs::is_directory(dir))
                    throw std::invalid_argument(
                        fmt::format("--html {}: folder {} does not exist; create it or choose "
                                    "another",
                                    f->html, dir.string()));
            }
            auto quiz = make_quiz(f->seed, f->topic, f->count);
            if (!f->html.empty()) {
                write_file_atomic(f->html, quiz_html(quiz, f->seed));
                fmt::print(stderr, "wrote {}\n", f->html);
                return 0;
            }
            fmt::print("{}", quiz_text(quiz, f->seed, f->answers));
            return 0;
        };
    });
}

} // namespace vmmu
