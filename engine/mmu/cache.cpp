#include "engine/mmu/cache.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

namespace vmmu {

CacheArray::Tags::Tags(size_t n) : n_(n) {
    // Rounded up to whole 64-byte blocks, as aligned_alloc requires.
    size_t bytes = (n * sizeof(uint32_t) + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, bytes ? bytes : 64);
    if (!p) throw std::bad_alloc();
    std::memset(p, 0, bytes);
    p_.reset(static_cast<uint32_t*>(p));
}
CacheArray::Tags::Tags(const Tags& o) : Tags(o.n_) {
    if (n_) std::memcpy(p_.get(), o.p_.get(), n_ * sizeof(uint32_t));
}
CacheArray::Tags& CacheArray::Tags::operator=(const Tags& o) {
    if (this != &o) *this = Tags(o);
    return *this;
}
void CacheArray::Tags::Free::operator()(uint32_t* p) const { std::free(p); }

CacheArray::CacheArray(uint32_t sets, uint32_t ways)
    : ways_(ways), stride_((ways + 3) / 4 * 4),
      set_bits_(static_cast<unsigned>(std::countr_zero(sets))), set_mask_(sets - 1),
      tags_(size_t{sets} * stride_), walk_victim_(sets, kNoLine) {}

// find(), lookup() and fill() are inlined into CacheHierarchy::access, their only caller (a call
// each cost about a fifth of their instructions in callgrind).

#ifdef __SSE2__
namespace {
// The way of the first N vectors of four ways holding the tag in tv, or -1: N compares and one
// branch (the padding past the ways is 0 and a tag is not).
template <uint32_t N> inline int find_n(const uint32_t* set, __m128i tv) {
    unsigned m = 0;
    for (uint32_t j = 0; j < N; ++j) {
        __m128i eq =
            _mm_cmpeq_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(set + 4 * j)), tv);
        m |= static_cast<unsigned>(_mm_movemask_ps(_mm_castsi128_ps(eq))) << (4 * j);
    }
    return m ? std::countr_zero(m) : -1;
}
} // namespace
#endif

[[gnu::always_inline]] inline int CacheArray::find(const uint32_t* set, uint32_t t) const {
#ifdef __SSE2__
    const __m128i tv = _mm_set1_epi32(static_cast<int>(t));
    // The profiles' shapes unrolled (8 and 16 ways); any other, four ways a compare.
    switch (stride_) {
    case 8:
        return find_n<2>(set, tv);
    case 16:
        return find_n<4>(set, tv);
    default:
        for (uint32_t j = 0; j < stride_; j += 4) {
            __m128i eq =
                _mm_cmpeq_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(set + j)), tv);
            int m = _mm_movemask_ps(_mm_castsi128_ps(eq));
            if (m) return static_cast<int>(j) + std::countr_zero(static_cast<unsigned>(m));
        }
        return -1;
    }
#else
    for (uint32_t w = 0; w < ways_; ++w)
        if (set[w] == t) return static_cast<int>(w);
    return -1;
#endif
}

#ifdef __SSE2__
namespace {
// Shifts the set's first `count` vectors of four ways up by one way, `carry` entering way 0;
// returns what leaves the last of them (in lane 0).
inline __m128i shift_up(uint32_t* set, uint32_t count, __m128i carry) {
    for (uint32_t j = 0; j < count; ++j) {
        __m128i* p = reinterpret_cast<__m128i*>(set + 4 * j);
        __m128i v = _mm_load_si128(p);
        _mm_store_si128(p, _mm_or_si128(_mm_slli_si128(v, 4), carry));
        carry = _mm_srli_si128(v, 12);
    }
    return carry;
}
} // namespace
#endif

[[gnu::always_inline]] inline bool CacheArray::lookup(uint64_t line) {
    const uint32_t t = tag(line);
    uint32_t* set = &tags_[set_base(line)];
    const int found = find(set, t);
    if (found < 0) return false;
    const uint32_t w = static_cast<uint32_t>(found);
    if (w == 0) return true;
        // Move to the front: the ways before it each age by one.
#ifdef __SSE2__
    if (ways_ == stride_) {
        // Whole vectors below the hit's shift entirely; in the hit's vector, the lanes up to
        // the hit take the shifted value and the lanes above it keep theirs.
        const uint32_t last = w / 4;
        __m128i carry = shift_up(set, last, _mm_cvtsi32_si128(static_cast<int>(t)));
        __m128i* p = reinterpret_cast<__m128i*>(set + 4 * last);
        __m128i v = _mm_load_si128(p);
        __m128i shifted = _mm_or_si128(_mm_slli_si128(v, 4), carry);
        __m128i take = _mm_cmplt_epi32(_mm_setr_epi32(0, 1, 2, 3),
                                       _mm_set1_epi32(static_cast<int>(w % 4 + 1)));
        _mm_store_si128(p, _mm_or_si128(_mm_and_si128(take, shifted), _mm_andnot_si128(take, v)));
        return true;
    }
#endif
    for (uint32_t i = w; i > 0; --i) set[i] = set[i - 1];
    set[0] = t;
    return true;
}

[[gnu::always_inline]] inline uint64_t CacheArray::fill(uint64_t line, bool by_walk) {
    size_t set_index = static_cast<size_t>(line & set_mask_);
    uint32_t* set = &tags_[set_index * stride_];
    // The least recently used way (the last) leaves; a free way is always last in order.
    uint32_t old;
#ifdef __SSE2__
    if (ways_ == stride_) {
        const __m128i t = _mm_cvtsi32_si128(static_cast<int>(tag(line)));
        // The profiles' shapes unrolled (8 and 16 ways).
        const __m128i out = stride_ == 8    ? shift_up(set, 2, t)
                            : stride_ == 16 ? shift_up(set, 4, t)
                                            : shift_up(set, stride_ / 4, t);
        old = static_cast<uint32_t>(_mm_cvtsi128_si32(out));
    } else
#endif
    {
        old = set[ways_ - 1];
        for (uint32_t i = ways_ - 1; i > 0; --i) set[i] = set[i - 1];
        set[0] = tag(line);
    }
    uint64_t victim = old ? line_of(old, set_index) : kNoLine;
    if (by_walk && victim != kNoLine) walk_victim_[set_index] = victim;
    return victim;
}

void CacheArray::invalidate(uint64_t line) {
    uint32_t* set = &tags_[set_base(line)];
    const int found = find(set, tag(line));
    if (found < 0) return;
    // Close the gap; the freed way becomes the least recently used.
    for (uint32_t w = static_cast<uint32_t>(found); w + 1 < ways_; ++w) set[w] = set[w + 1];
    set[ways_ - 1] = 0;
}

void CacheArray::clear() {
    std::fill(tags_.data(), tags_.data() + tags_.size(), 0u);
    std::fill(walk_victim_.begin(), walk_victim_.end(), kNoLine);
}

namespace {
CacheArray make_array(const CacheLevelConfig& c, uint32_t line_bytes) {
    if (!c.present()) return {};
    uint64_t lines = uint64_t{c.size_kib} * 1024 / line_bytes;
    return CacheArray(static_cast<uint32_t>(lines / c.ways), c.ways);
}

// The first x in [begin, end) whose offset's line bits differ from those of x - m (the same
// access one pass before), or end.
uint64_t first_line_change(const uint16_t* off, size_t m, uint64_t begin, uint64_t end,
                           uint16_t line_mask) {
    uint64_t x = begin;
#ifdef __SSE2__
    const __m128i mask = _mm_set1_epi16(static_cast<short>(line_mask));
    const __m128i zero = _mm_setzero_si128();
    for (; x + 8 <= end; x += 8) {
        __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(off + x));
        __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(off + x - m));
        __m128i d = _mm_and_si128(_mm_xor_si128(a, b), mask);
        if (_mm_movemask_epi8(_mm_cmpeq_epi16(d, zero)) != 0xffff) break;
    }
#endif
    for (; x < end; ++x)
        if ((off[x] ^ off[x - m]) & line_mask) return x;
    return end;
}
} // namespace

uint64_t same_line_passes(std::span<const BlockEvents> body, uint64_t from, uint64_t to,
                          uint16_t line_mask) {
    uint64_t run = to - from;
    for (const BlockEvents& b : body) {
        const size_t m = b.accesses.size();
        if (b.offsets.empty() || m == 0) continue; // the same offsets in every pass
        const uint64_t end = (from + run) * m;
        run = first_line_change(b.offsets.data(), m, from * m, end, line_mask) / m - from;
        if (run == 0) break;
    }
    return run;
}

CacheHierarchy::CacheHierarchy(const CacheConfig& config, bool price_data, CacheCounters* counters)
    : config_(config), line_shift_(static_cast<unsigned>(std::countr_zero(config.line_bytes))),
      counters_(counters), l1_(make_array(config.l1d, config.line_bytes)),
      l2_(make_array(config.l2, config.line_bytes)),
      llc_(make_array(config.llc, config.line_bytes)) {
    counters_->modelled = true;
    counters_->price_data = price_data;
    limit_from_l2_ = llc_.line_limit();
    if (l2_.enabled()) limit_from_l2_ = std::min(limit_from_l2_, l2_.line_limit());
    limit_from_l1_ = std::min(limit_from_l2_, l1_.line_limit());
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

void CacheHierarchy::line_too_high(uint64_t line) const {
    throw std::logic_error(fmt::format("cache model: line {:#x} beyond 32-bit tags", line));
}

// The levels in order, each looked up once; the levels that missed are filled the farthest
// first (an inclusive LLC holds the line before the levels above it do). A data miss on a line
// a walk had evicted from a level counts as pollution there (the line comes back either way,
// so the record goes).
CacheLevel CacheHierarchy::access(uint64_t line, bool walk_ref, bool from_l1) {
    if (line >= (from_l1 ? limit_from_l1_ : limit_from_l2_)) [[unlikely]]
        line_too_high(line);
    if (from_l1) {
        if (l1_.lookup(line)) return CacheLevel::L1;
        if (l1_.take_walk_victim(line) && !walk_ref) counters_->data_misses_from_walks[0]++;
    }
    const bool has_l2 = l2_.enabled();
    CacheLevel hit = CacheLevel::Memory;
    if (has_l2) {
        if (l2_.lookup(line)) {
            hit = CacheLevel::L2;
        } else if (l2_.take_walk_victim(line) && !walk_ref) {
            counters_->data_misses_from_walks[1]++;
        }
    }
    if (hit == CacheLevel::Memory) {
        if (llc_.lookup(line)) {
            hit = CacheLevel::Llc;
        } else {
            if (llc_.take_walk_victim(line) && !walk_ref) counters_->data_misses_from_walks[2]++;
            fill_llc(line, walk_ref);
        }
        if (has_l2) l2_.fill(line, walk_ref);
    }
    if (from_l1) l1_.fill(line, walk_ref);
    return hit;
}

void CacheHierarchy::fill_llc(uint64_t line, bool walk_ref) {
    uint64_t victim = llc_.fill(line, walk_ref);
    // An inclusive LLC keeps every line of the levels above: its victim leaves them too.
    if (config_.llc_inclusive && victim != CacheArray::kNoLine) {
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
