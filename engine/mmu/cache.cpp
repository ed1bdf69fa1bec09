#include "engine/mmu/cache.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <stdexcept>
#include <string>

namespace vmmu {

CacheArray::CacheArray(uint32_t sets, uint32_t ways)
    : ways_(ways), set_bits_(static_cast<unsigned>(std::countr_zero(sets))), set_mask_(sets - 1),
      tags_(size_t{sets} * ways, 0), walk_victim_(sets, kNoLine) {}

bool CacheArray::lookup(uint64_t line) {
    if (line >> set_bits_ >= 0xffffffffu)
        throw std::logic_error(fmt::format("cache model: line {:#x} beyond 32-bit tags", line));
    uint32_t t = tag(line);
    uint32_t* set = &tags_[set_base(line)];
    for (uint32_t w = 0; w < ways_; ++w)
        if (set[w] == t) {
            // Move to the front: the ways before it each age by one.
            std::copy_backward(set, set + w, set + w + 1);
            set[0] = t;
            return true;
        }
    return false;
}

uint64_t CacheArray::fill(uint64_t line, bool by_walk) {
    size_t set_index = static_cast<size_t>(line & set_mask_);
    uint32_t* set = &tags_[set_index * ways_];
    // The least recently used way (the last) leaves; a free way is always last in order.
    uint32_t old = set[ways_ - 1];
    std::copy_backward(set, set + ways_ - 1, set + ways_);
    set[0] = tag(line);
    uint64_t victim = old ? line_of(old, set_index) : kNoLine;
    if (by_walk && victim != kNoLine) walk_victim_[set_index] = victim;
    return victim;
}

void CacheArray::invalidate(uint64_t line) {
    uint32_t t = tag(line);
    uint32_t* set = &tags_[set_base(line)];
    for (uint32_t w = 0; w < ways_; ++w)
        if (set[w] == t) {
            // Close the gap; the freed way becomes the least recently used.
            std::copy(set + w + 1, set + ways_, set + w);
            set[ways_ - 1] = 0;
            return;
        }
}

bool CacheArray::take_walk_victim(uint64_t line) {
    uint64_t& v = walk_victim_[static_cast<size_t>(line & set_mask_)];
    if (v != line) return false;
    v = kNoLine;
    return true;
}

void CacheArray::clear() {
    std::fill(tags_.begin(), tags_.end(), 0);
    std::fill(walk_victim_.begin(), walk_victim_.end(), kNoLine);
}

namespace {
CacheArray make_array(const CacheLevelConfig& c, uint32_t line_bytes) {
    if (!c.present()) return {};
    uint64_t lines = uint64_t{c.size_kib} * 1024 / line_bytes;
    return CacheArray(static_cast<uint32_t>(lines / c.ways), c.ways);
}
} // namespace

CacheHierarchy::CacheHierarchy(const CacheConfig& config, bool price_data, CacheCounters* counters)
    : config_(config), line_shift_(static_cast<unsigned>(std::countr_zero(config.line_bytes))),
      counters_(counters), l1_(make_array(config.l1d, config.line_bytes)),
      l2_(make_array(config.l2, config.line_bytes)),
      llc_(make_array(config.llc, config.line_bytes)) {
    counters_->modelled = true;
    counters_->price_data = price_data;
}

void CacheHierarchy::data_slow(uint64_t line) {
    CacheLevel l = access(line, false, true);
    counters_->data[static_cast<size_t>(l)]++;
}

CacheLevel CacheHierarchy::walk(HostPhys hpa, WalkDimension dim) {
    CacheLevel l = access(hpa.value() >> line_shift_, true, config_.walker_uses_l1d);
    counters_->walk[static_cast<size_t>(dim)][static_cast<size_t>(l)]++;
    return l;
}

CacheLevel CacheHierarchy::access(uint64_t line, bool walk_ref, bool from_l1) {
    CacheArray* levels[3] = {from_l1 ? &l1_ : nullptr, l2_.enabled() ? &l2_ : nullptr, &llc_};
    size_t hit = 3;
    for (size_t i = 0; i < 3; ++i) {
        if (!levels[i]) continue;
        if (levels[i]->lookup(line)) {
            hit = i;
            break;
        }
        // A data miss on a line a walk had evicted from this level: the walks caused it. (The
        // line comes back either way, so the record goes.)
        if (levels[i]->take_walk_victim(line) && !walk_ref) counters_->data_misses_from_walks[i]++;
    }
    // Fill the levels that missed, the farthest first (an inclusive LLC holds the line before
    // the levels above it do).
    for (size_t i = hit; i-- > 0;)
        if (levels[i]) fill(*levels[i], i, line, walk_ref);
    return static_cast<CacheLevel>(hit);
}

void CacheHierarchy::fill(CacheArray& a, size_t level, uint64_t line, bool walk_ref) {
    uint64_t victim = a.fill(line, walk_ref);
    // An inclusive LLC keeps every line of the levels above: its victim leaves them too.
    if (level == 2 && config_.llc_inclusive && victim != CacheArray::kNoLine) {
        l1_.invalidate(victim);
        if (l2_.enabled()) l2_.invalidate(victim);
    }
}

std::string cache_level_problem(const CacheLevelConfig& c, uint32_t line_bytes) {
    if (c.ways == 0) return "ways must be >= 1";
    uint64_t bytes = uint64_t{c.size_kib} * 1024;
    if (bytes % (uint64_t{line_bytes} * c.ways) != 0)
        return fmt::format("{} KiB is not a whole number of sets of {} ways × {}-byte lines",
                           c.size_kib, c.ways, line_bytes);
    uint64_t sets = bytes / line_bytes / c.ways;
    if (!std::has_single_bit(sets))
        return fmt::format("{} KiB / ({} ways × {}-byte lines) = {} sets: must be a power of two",
                           c.size_kib, c.ways, line_bytes, sets);
    return "";
}

} // namespace vmmu
