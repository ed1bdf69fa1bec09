// Progress on stderr for long commands. ProgressBar (studies, validation) draws only when stderr
// is a terminal, so logs and pipes stay clean; SweepProgress also logs one line per finished run
// when stderr is not a terminal (logs, CI).
#pragma once

#include "engine/experiment/sweep.h"

#include <chrono>
#include <cstddef>
#include <string>

namespace vmmu {

class ProgressBar {
public:
    // total: steps to do; label: what is running ("study scaling").
    ProgressBar(std::string label, size_t total);
    ~ProgressBar() { finish(); }
    ProgressBar(const ProgressBar&) = delete;
    ProgressBar& operator=(const ProgressBar&) = delete;

    // Redraws with `done` steps finished and `note` describing the current one.
    void update(size_t done, const std::string& note);
    // Clears the line (once).
    void finish();
    bool enabled() const { return enabled_; }

private:
    std::string label_;
    size_t total_;
    bool enabled_;
    bool drawn_ = false;
    std::chrono::steady_clock::time_point start_;
};

// One line redrawn in place on a terminal; one line per finished run otherwise.
class SweepProgress {
public:
    explicit SweepProgress(size_t total);
    void finished(const SweepOutcome& o, size_t done, size_t running);

private:
    size_t total_;
    bool tty_;
    std::chrono::steady_clock::time_point start_;
};

} // namespace vmmu
