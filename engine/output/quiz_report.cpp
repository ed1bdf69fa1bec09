#include "engine/output/quiz_report.h"

#include <fmt/format.h>

namespace vmmu {

namespace {
// Words wrapped to lines of at most `width` columns, each starting with `indent`.
std::string wrap(const std::string& text, size_t width, const std::string& indent) {
    std::string out, line = indent;
    size_t at = 0;
    while (at < text.size()) {
        size_t nl = text.find('\n', at);
        std::string para = text.substr(at, nl == std::string::npos ? std::string::npos : nl - at);
        at = nl == std::string::npos ? text.size() : nl + 1;
        // A paragraph that starts with spaces is a table row: kept as it is.
        if (!para.empty() && para[0] == ' ') {
            if (line != indent) out += line + "\n";
            out += indent + para + "\n";
            line = indent;
            continue;
        }
        size_t p = 0;
        while (p < para.size()) {
            size_t sp = para.find(' ', p);
            std::string word = para.substr(p, sp == std::string::npos ? std::string::npos : sp - p);
            p = sp == std::string::npos ? para.size() : sp + 1;
            if (line.size() + word.size() + 1 > width && line != indent) {
                out += line + "\n";
                line = indent;
            }
            line += (line == indent ? "" : " ") + word;
        }
        if (line != indent) out += line + "\n";
        line = indent;
    }
    return out;
}
} // namespace

std::string quiz_text(const std::vector<QuizQuestion>& quiz, uint64_t seed, bool answers) {
    std::string s = fmt::format("vmmu quiz, seed {} ({} question{}; the same seed gives the same "
                                "quiz; --answers shows the answers)\n\n",
                                seed, quiz.size(), quiz.size() == 1 ? "" : "s");
    for (size_t i = 0; i < quiz.size(); ++i) {
        const QuizQuestion& q = quiz[i];
        s += wrap(fmt::format("{}. [{}] {}", i + 1, q.topic, q.question), 100, "");
        if (answers) {
            s += wrap("answer: " + q.answer, 100, "   ");
            if (q.steps.empty()) {
                s += wrap("why: " + q.solution, 100, "   ");
            } else {
                s += "   why, step by step (from the model):\n";
                for (size_t k = 0; k < q.steps.size(); ++k)
                    s += wrap(fmt::format("{}. {}: {}", k + 1, q.steps[k].answer, q.steps[k].why),
                              100, "     ");
            }
        }
        s += "\n";
    }
    return s;
}

} // namespace vmmu
