#include "engine/cli/progress.h"

#include <fmt/format.h>

#include <cstdio>
#include <unistd.h>

namespace vmmu {

ProgressBar::ProgressBar(std::string label, size_t total)
    : label_(std::move(label)), total_(total ? total : 1), enabled_(isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()) {}

void ProgressBar::update(size_t done, const std::string& note) {
    if (!enabled_) return;
    constexpr int kWidth = 24;
    int filled = static_cast<int>(kWidth * std::min(done, total_) / total_);
    auto secs =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - start_)
            .count();
    std::string bar(static_cast<size_t>(filled), '#');
    bar.append(static_cast<size_t>(kWidth - filled), '.');
    // \r and erase-to-end-of-line (ECMA-48 EL) redraw in place.
    fmt::print(stderr, "\r{} [{}] {}/{} {:d}:{:02d} {}\x1b[K", label_, bar, done, total_, secs / 60,
               secs % 60, note);
    std::fflush(stderr);
    drawn_ = true;
}

void ProgressBar::finish() {
    if (!enabled_ || !drawn_) return;
    fmt::print(stderr, "\r\x1b[K");
    std::fflush(stderr);
    drawn_ = false;
}

} // namespace vmmu
