#include "engine/experiment/capacity.h"

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

namespace vmmu {
namespace {

void check(const std::vector<ScalingPoint>& points, const HostModel& host) {
    if (points.empty()) throw std::invalid_argument("capacity model: no measured points");
    for (size_t i = 0; i < points.size(); ++i) {
        const ScalingPoint& p = points[i];
        if (p.sessions == 0 || !(p.cycles_per_action > 0) || !std::isfinite(p.cycles_per_action))
            throw std::invalid_argument(fmt::format(
                "capacity model: point {} (K={}, {} cycles/action) must have K >= 1 and "
                "positive finite cycles",
                i, p.sessions, p.cycles_per_action));
        if (i > 0 && p.sessions <= points[i - 1].sessions)
            throw std::invalid_argument(
                fmt::format("capacity model: K values must be increasing, got {} after {}",
                            p.sessions, points[i - 1].sessions));
    }
    auto positive = [](const char* what, double v) {
        if (!(v > 0) || !std::isfinite(v))
            throw std::invalid_argument(
                fmt::format("capacity model: {} {} must be a finite number > 0", what, v));
    };
    positive("cores", host.cores);
    check_host_ghz(host.ghz);
    positive("actions per second", host.actions_per_sec);
    if (!(host.utilisation > 0 && host.utilisation <= 1))
        throw std::invalid_argument(fmt::format(
            "capacity model: utilisation {} (--util) must be in (0, 1]", host.utilisation));
}

} // namespace

void check_host_ghz(double ghz) {
    if (!(ghz >= kMinHostGhz && ghz <= kMaxHostGhz))
        throw std::invalid_argument(
            fmt::format("host clock (--ghz) {} GHz: give a clock from {} to {} GHz", ghz,
                        kMinHostGhz, kMaxHostGhz));
}

double interpolate_cycles_per_action(const std::vector<ScalingPoint>& points, double k) {
    if (k <= double(points.front().sessions)) return points.front().cycles_per_action;
    for (size_t i = 1; i < points.size(); ++i) {
        const ScalingPoint& a = points[i - 1];
        const ScalingPoint& b = points[i];
        if (k <= double(b.sessions)) {
            double t = (k - double(a.sessions)) / double(b.sessions - a.sessions);
            return a.cycles_per_action + t * (b.cycles_per_action - a.cycles_per_action);
        }
    }
    return points.back().cycles_per_action;
}

double demand_cycles_per_second(const std::vector<ScalingPoint>& points, const HostModel& host,
                                double k) {
    return k * host.actions_per_sec * interpolate_cycles_per_action(points, k);
}

Capacity sustainable_sessions(const std::vector<ScalingPoint>& points, const HostModel& host) {
    check(points, host);
    const double budget = host.cycles_per_second();
    auto fits = [&](double k) { return demand_cycles_per_second(points, host, k) <= budget; };
    Capacity c;
    if (!fits(1)) return c;
    // The first whole K past the measured range that no longer fits ends the search; demand may
    // not be monotonic inside the range, so every whole K is tried in order.
    const uint64_t last = points.back().sessions;
    uint64_t k = 1;
    while (k < last && fits(double(k + 1))) ++k;
    if (k < last) {
        // Demand crosses the budget inside (k, k+1]: bisect for the real crossing.
        double lo = double(k), hi = double(k + 1);
        for (int i = 0; i < 60; ++i) {
            double mid = (lo + hi) / 2;
            (fits(mid) ? lo : hi) = mid;
        }
        c.sessions = k;
        c.crossing = lo;
        return c;
    }
    // Beyond the last measured K cycles per action stay at their last value: demand is linear.
    c.crossing = budget / (host.actions_per_sec * points.back().cycles_per_action);
    c.sessions = static_cast<uint64_t>(std::floor(c.crossing));
    c.extrapolated = c.crossing > double(last);
    return c;
}

} // namespace vmmu
