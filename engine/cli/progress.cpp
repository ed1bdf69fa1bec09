#include "engine/cli/progress.h"

#include <fmt/format.h>

#include <algorithm>
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

SweepProgress::SweepProgress(size_t total)
    : total_(total), tty_(isatty(STDERR_FILENO) == 1), start_(std::chrono::steady_clock::now()) {}

void SweepProgress::finished(const SweepOutcome& o, size_t done, size_t running) {
    double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    if (!tty_) {
        fmt::print(stderr, "[{}/{}] {} {} ({:.1f} s)\n", done, total_,
                   o.exit_code == 0 ? "ok  " : "FAIL", o.name, o.seconds);
        return;
    }
    if (o.exit_code != 0) fmt::print(stderr, "\r\033[KFAIL {} (exit {})\n", o.name, o.exit_code);
    constexpr int kWidth = 30;
    int filled = static_cast<int>(kWidth * done / std::max<size_t>(total_, 1));
    double eta = done ? t / done * (total_ - done) : 0;
    fmt::print(stderr, "\r\033[K[{}{}] {}/{} runs, {} running, {:.0f} s elapsed, ~{:.0f} s left",
               std::string(filled, '#'), std::string(kWidth - filled, '.'), done, total_, running,
               t, eta);
    if (done == total_) fmt::print(stderr, "\n");
}

} // namespace vmmu
