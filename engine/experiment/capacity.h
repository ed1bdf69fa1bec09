// The capacity model of the scaling study: how many concurrent sessions one host sustains.
//
// A host of C cores at F GHz, kept below a utilisation ceiling U, sustains K sessions while
//     K × A × cycles_per_action(K) ≤ U × C × F × 1e9
// with A the actions each user performs per second. cycles_per_action(K) is measured at a few
// K (one guest run each) and interpolated linearly in between.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vmmu {

struct HostModel {
    double cores = 0;
    double ghz = 0;
    double utilisation = 0;     // ceiling U, 0 < U <= 1
    double actions_per_sec = 0; // per user
    double cycles_per_second() const { return utilisation * cores * ghz * 1e9; }
};

// Modelled host cycles per session-action, measured with `sessions` concurrent sessions.
struct ScalingPoint {
    uint64_t sessions = 0;
    double cycles_per_action = 0;
};

struct Capacity {
    // Largest whole number of sessions that fits (0: not even one).
    uint64_t sessions = 0;
    // Where demand crosses capacity, as a real number (0 if one session does not fit).
    double crossing = 0;
    // True when the crossing lies beyond the largest measured K: cycles per action are then
    // held at the last measured value, an assumption the report names.
    bool extrapolated = false;
};

// cycles_per_action at k: linear between the two nearest measured points, held constant below
// the smallest and above the largest. Points must be sorted by sessions, distinct, non-empty.
double interpolate_cycles_per_action(const std::vector<ScalingPoint>& points, double k);

// Host cycles per second that k sessions demand.
double demand_cycles_per_second(const std::vector<ScalingPoint>& points, const HostModel& host,
                                double k);

// Throws std::invalid_argument if the points are unsorted/duplicated/empty, a figure is not
// positive, or the host model has a non-positive field (or U > 1).
// A host clock a real CPU could have: a typo (0, -2, 1e9) is rejected rather than modelled.
inline constexpr double kMinHostGhz = 0.1, kMaxHostGhz = 10;
// Throws std::invalid_argument naming the range when `ghz` is outside it.
void check_host_ghz(double ghz);

Capacity sustainable_sessions(const std::vector<ScalingPoint>& points, const HostModel& host);

} // namespace vmmu
