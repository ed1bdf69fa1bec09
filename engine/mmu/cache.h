// The data-cache hierarchy a backend's page walker and data accesses go through: L1D, an
// optional private L2, a last-level cache (LLC) and memory. Each level is set-associative with
// LRU replacement; lines are physically addressed (host-physical), so page-table lines and data
// lines compete for the same sets. L1 and L2 are non-inclusive (a fill does not evict above);
// the LLC is inclusive or not per profile: an inclusive LLC's eviction back-invalidates L1 and
// L2 (Intel Optimization Reference Manual: Nehalem and Skylake client LLCs are inclusive).
//
// Walk cycles are the sum, over a walk's references, of the hit latency of the level that
// served each (ChampSim, Sniper and gem5 send walker references through their caches the same
// way). Geometry and latencies come from the CPU profile (engine/mmu/profile.*).
#pragma once

#include "engine/core/addr.h"
#include "engine/core/guest_events.h"
#include "engine/mmu/counters.h"

#include <array>
#include <memory>
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace vmmu {

// One level's geometry and hit latency (cycles, load to use).
struct CacheLevelConfig {
    uint32_t size_kib = 0; // 0: the level does not exist (only the L2 may be absent)
    uint32_t ways = 0;
    double latency = 0;
    bool present() const { return size_kib != 0; }
};

struct CacheConfig {
    uint32_t line_bytes = 64;
    CacheLevelConfig l1d, l2, llc;
    bool llc_inclusive = false;
    double memory_latency = 0;
    // The page walker looks up L1D (true) or starts at L2 (its fills then skip L1D).
    bool walker_uses_l1d = true;

    double latency(CacheLevel level) const {
        switch (level) {
        case CacheLevel::L1:
            return l1d.latency;
        case CacheLevel::L2:
            return l2.latency;
        case CacheLevel::Llc:
            return llc.latency;
        default:
            return memory_latency;
        }
    }
};

// One set-associative LRU cache of line numbers. Each set keeps its tags in recency order (most
// recent first), so a hit on the most recent line costs one compare; a tag is the line number
// above the set bits, in 32 bits (plus one: 0 is an empty way), so that a 16-way set is one
// 64-byte host line (results/PERFORMANCE.md). A set occupies `stride` slots, the ways rounded up
// to a multiple of 4 so that a scan compares four tags at once (SSE2); the slots past the ways
// stay 0 (empty) forever, so they never match. The sets start on a 64-byte boundary. Each set
// also remembers the last line a walk reference's fill evicted from it, so that a data access
// missing on that line is counted as a miss the walks caused (pollution).
class CacheArray {
public:
    CacheArray() = default;
    CacheArray(uint32_t sets, uint32_t ways);

    bool enabled() const { return ways_ != 0; }
    // Hot path: the line is the most recent of its set.
    bool mru_hit(uint64_t line) const { return tags_[set_base(line)] == tag(line); }
    // mru_hit() on a copy of the array's shape (valid while the array is not rebuilt).
    struct Mru {
        const uint32_t* tags;
        uint64_t set_mask;
        uint32_t stride;
        unsigned set_bits;
        bool hit(uint64_t line) const {
            return tags[static_cast<size_t>(line & set_mask) * stride] ==
                   static_cast<uint32_t>(line >> set_bits) + 1;
        }
    };
    Mru mru() const { return {tags_.data(), set_mask_, stride_, set_bits_}; }
    // Asks the host to load the line's set early (a hint; changes nothing modelled).
    void prefetch(uint64_t line) const {
        if (ways_) __builtin_prefetch(tags_.data() + set_base(line));
    }
    // Looks the line up; on a hit moves it to the front of its set. The caller has checked
    // that the line's tag fits (line_limit()).
    bool lookup(uint64_t line);
    // Inserts a line known to be absent at the front of its set; returns the evicted line
    // (kNoLine if a way was free). `by_walk`: the fill is a walk reference's.
    uint64_t fill(uint64_t line, bool by_walk);
    // Removes the line if present (an inclusive LLC's back-invalidation).
    void invalidate(uint64_t line);
    // A data miss on a line a walk evicted from this set: true once, then forgotten.
    bool take_walk_victim(uint64_t line) {
        uint64_t& v = walk_victim_[static_cast<size_t>(line & set_mask_)];
        if (v != line) [[likely]]
            return false;
        v = kNoLine;
        return true;
    }
    void clear();
    // Lines below this have a tag (lookup() takes no other).
    uint64_t line_limit() const { return uint64_t{0xffffffffu} << set_bits_; }

    static constexpr uint64_t kNoLine = ~uint64_t{0};

private:
    // 64-byte-aligned tag storage (a std::vector's is only 16-byte aligned, so a 16-way set
    // would straddle two host lines).
    class Tags {
    public:
        Tags() = default;
        explicit Tags(size_t n);
        Tags(const Tags& o);
        Tags& operator=(const Tags& o);
        Tags(Tags&& o) noexcept : p_(std::move(o.p_)), n_(std::exchange(o.n_, 0)) {}
        Tags& operator=(Tags&& o) noexcept {
            p_ = std::move(o.p_);
            n_ = std::exchange(o.n_, 0);
            return *this;
        }
        uint32_t* data() { return p_.get(); }
        const uint32_t* data() const { return p_.get(); }
        uint32_t& operator[](size_t i) { return p_[i]; }
        uint32_t operator[](size_t i) const { return p_[i]; }
        size_t size() const { return n_; }

    private:
        struct Free {
            void operator()(uint32_t* p) const;
        };
        std::unique_ptr<uint32_t[], Free> p_;
        size_t n_ = 0;
    };

    size_t set_base(uint64_t line) const { return static_cast<size_t>(line & set_mask_) * stride_; }
    uint32_t tag(uint64_t line) const { return static_cast<uint32_t>(line >> set_bits_) + 1; }
    uint64_t line_of(uint32_t tag, size_t set) const {
        return (uint64_t{tag - 1} << set_bits_) | set;
    }
    // The way holding tag t in the set, or -1.
    int find(const uint32_t* set, uint32_t t) const;
    uint32_t ways_ = 0;
    uint32_t stride_ = 0;
    unsigned set_bits_ = 0;
    uint64_t set_mask_ = 0;
    Tags tags_;                         // [set][stride], most recent first; 0 = empty
    std::vector<uint64_t> walk_victim_; // [set]: the last line a walk fill evicted from it
};

// Of the loop passes [from, to) of a body (GuestObserver::on_loop_repeats), how many from
// `from` on (from >= 1) reach every access's line as the pass before them did: the length of
// the run of passes whose lines repeat the previous pass's, access by access. An access's
// host page is the same in every pass, so its line repeats when its offset's bits above the
// line (`line_mask`: the offset bits at or above the line shift) do.
uint64_t same_line_passes(std::span<const BlockEvents> body, uint64_t from, uint64_t to,
                          uint16_t line_mask);

class CacheHierarchy {
public:
    CacheHierarchy() = default;
    // counters (not null) receives every access; counters->modelled is set.
    CacheHierarchy(const CacheConfig& config, bool price_data, CacheCounters* counters);

    bool enabled() const { return l1_.enabled(); }

    // Hot path: one data access (a load or store of the guest) to host-physical line of hpa.
    void data(HostPhys hpa) {
        uint64_t line = hpa.value() >> line_shift_;
        if (l1_.mru_hit(line)) [[likely]] {
            counters_->data[0]++;
            return;
        }
        data_slow(line);
    }
    // Before the TLB lookup of an access: the host loads its sets meanwhile (the model's LLC
    // arrays do not fit the host's nearer caches; results/PERFORMANCE.md).
    void prefetch(HostPhys hpa) const {
        uint64_t line = hpa.value() >> line_shift_;
        l1_.prefetch(line);
        l2_.prefetch(line);
        llc_.prefetch(line);
    }
    // The data accesses of a loop body's repeated executions [from, to) (GuestObserver::
    // on_loop_repeats), in order, each at its execution's offset (BlockEvents::access):
    // page_hpa(pa) is the host-physical address of an access's guest-physical page base.
    template <class PageHpa>
    void data_passes(std::span<const BlockEvents> body, uint64_t from, uint64_t to,
                     PageHpa page_hpa) {
        std::array<uint64_t, kMaxPassAccesses> base; // each access's host page, in pass order
        size_t n = 0;
        for (const BlockEvents& b : body)
            for (const DataAccess& a : b.accesses) {
                if (n == base.size()) throw std::logic_error("cache model: loop body too long");
                base[n++] = page_hpa(a.pa.page_base()).value();
            }
        // data() with the L1 array's shape in locals and the MRU hits counted at the end: the
        // counters' stores would otherwise make the compiler reload the shape at every access.
        const CacheArray::Mru l1 = l1_.mru();
        const unsigned shift = line_shift_;
        uint64_t hits = 0;
        bool all_mru = true;
        auto one = [&](uint64_t hpa) {
            uint64_t line = hpa >> shift;
            if (l1.hit(line)) [[likely]] {
                ++hits;
            } else {
                all_mru = false;
                data_slow(line);
            }
        };
        const uint16_t line_mask = shift >= 16 ? 0 : static_cast<uint16_t>(0xffffu << shift);
        for (uint64_t pass = from; pass < to;) {
            all_mru = true;
            const uint64_t* page = base.data();
            for (const BlockEvents& b : body) {
                const size_t m = b.accesses.size();
                if (b.offsets.empty()) {
                    for (size_t i = 0; i < m; ++i) one(page[i] + b.accesses[i].pa.page_offset());
                } else {
                    const uint16_t* off = b.offsets.data() + pass * m;
                    for (size_t i = 0; i < m; ++i) one(page[i] + off[i]);
                }
                page += m;
            }
            ++pass;
            // A pass of L1 MRU hits only left every level's state as it was (such a hit moves
            // nothing and fills nothing, and nothing else ran in between), so the next pass,
            // if it reaches the same lines in the same order, starts from the same state, finds
            // each line most recent again and changes nothing either: by induction, each pass
            // of the run that repeats this one's lines adds n L1 hits and nothing else.
            // cache_test compares this with feeding every pass through data().
            if (all_mru && pass < to) {
                const uint64_t same = same_line_passes(body, pass, to, line_mask);
                hits += same * n;
                pass += same;
            }
        }
        counters_->data[0] += hits;
    }
    // The most data accesses data_passes() takes in one pass (engine/core/loop_coalescer.h:
    // kMaxLoopBlocks × kMaxRefAccesses).
    static constexpr size_t kMaxPassAccesses = 256;

    // One page-walk reference of dimension `dim`; returns the level that served it.
    CacheLevel walk(HostPhys hpa, WalkDimension dim);

    const CacheConfig& config() const { return config_; }

private:
    void data_slow(uint64_t line);
    // Looks the line up from L1 (from_l1) or L2 down; fills the levels that missed. Returns
    // the level hit.
    CacheLevel access(uint64_t line, bool walk_ref, bool from_l1);
    // The LLC's fill: an inclusive LLC's victim leaves L1 and L2 too.
    void fill_llc(uint64_t line, bool walk_ref);
    [[noreturn]] void line_too_high(uint64_t line) const;

    CacheConfig config_;
    unsigned line_shift_ = 6;
    CacheCounters* counters_ = nullptr;
    CacheArray l1_, l2_, llc_;
    // Lines at or above these have no tag in some level looked up (from L1, from L2).
    uint64_t limit_from_l1_ = 0, limit_from_l2_ = 0;
};

// The hierarchy a backend owns: disabled (every call a no-op the caller skips) when `on` is
// false (--caches off, the flat walk_ref price).
inline CacheHierarchy backend_caches(bool on, const CacheConfig& config, bool price_data,
                                     CacheCounters* counters) {
    return on ? CacheHierarchy(config, price_data, counters) : CacheHierarchy();
}

// Geometry checks shared by the profile parser and tests: "" when valid, else the problem.
std::string cache_level_problem(const CacheLevelConfig& c, uint32_t line_bytes);

} // namespace vmmu
