// A one-line progress bar on stderr for long commands (studies, validation). It draws only when
// stderr is a terminal, so logs and pipes stay clean.
#pragma once

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

} // namespace vmmu
