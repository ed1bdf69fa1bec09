#include "engine/shadow/shadow_options.h"

#include <fmt/format.h>

#include <charconv>
#include <stdexcept>

namespace vmmu::shadow {
namespace {

uint64_t parse_uint(const std::string& key, const std::string& value, uint64_t max) {
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
    if (ec != std::errc() || end != value.data() + value.size() || v > max)
        throw std::invalid_argument(
            fmt::format("shadow option {}={}: expected an integer in [0, {}]", key, value, max));
    return v;
}

bool parse_bool(const std::string& key, const std::string& value) {
    if (value == "1" || value == "on" || value == "true" || value == "yes") return true;
    if (value == "0" || value == "off" || value == "false" || value == "no") return false;
    throw std::invalid_argument(
        fmt::format("shadow option {}={}: expected on/off, 1/0 or true/false", key, value));
}

} // namespace

ShadowOptions ShadowOptions::hyperv_vtlb() {
    ShadowOptions o;
    // estimate: no published figure for Hyper-V 2008's VTLB capacity was found. A Windows guest
    // switches among dozens of processes, and the 2008 counter set reports "Address Spaces" per
    // partition as a pool, so more than KVM's 3 previous roots is assumed: 8 spaces in all.
    o.prev_roots = 7;
    // estimate: shadow pages per partition kept at vmmu's shadow default (4096 pages, 16 MiB),
    // for want of a source; both are options (--shadow-opt) and the study's sensitivity grid.
    o.page_budget = 4096;
    return o;
}

ShadowOptions ShadowOptions::parse(const std::map<std::string, std::string>& options) {
    return parse(options, ShadowOptions{});
}

ShadowOptions ShadowOptions::parse(const std::map<std::string, std::string>& options,
                                   const ShadowOptions& defaults) {
    ShadowOptions o = defaults;
    for (const auto& [key, value] : options) {
        if (key == "unsync") {
            o.unsync = parse_bool(key, value);
        } else if (key == "flood_threshold") {
            o.flood_threshold = static_cast<uint32_t>(parse_uint(key, value, 1u << 20));
        } else if (key == "page_budget") {
            // A walk needs a root and up to three tables below it.
            o.page_budget = parse_uint(key, value, uint64_t{1} << 23);
            if (o.page_budget < 8)
                throw std::invalid_argument(
                    fmt::format("shadow option page_budget={}: at least 8 pages needed", value));
        } else if (key == "prev_roots") {
            o.prev_roots = static_cast<uint32_t>(parse_uint(key, value, 64));
        } else {
            throw std::invalid_argument(fmt::format(
                "unknown shadow option '{}' (valid: unsync, flood_threshold, page_budget, "
                "prev_roots)",
                key));
        }
    }
    return o;
}

std::vector<SchemeOption> ShadowOptions::describe() {
    const ShadowOptions d;
    return {
        {"unsync", d.unsync ? "on" : "off",
         "leaf guest tables may go out of sync instead of trapping every write (KVM mmu_unsync)"},
        {"flood_threshold", std::to_string(d.flood_threshold),
         "writes to a shadowed table without a translation through it before it is unshadowed "
         "(KVM: 3); 0 never unshadows"},
        {"page_budget", std::to_string(d.page_budget),
         "live shadow pages before the least recently used are zapped (at least 8)"},
        {"prev_roots", std::to_string(d.prev_roots),
         "previous roots kept across CR3 switches (KVM keeps 3); 0 keeps none"},
    };
}

} // namespace vmmu::shadow
