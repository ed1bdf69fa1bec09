// The current shadow root and a small LRU of previous ones, keyed by guest root frame.
//
// KVM keeps the shadow roots of the last few guest CR3 values so that a switch back to a recent
// address space reuses its shadow tables (docs/ANCHORS.md: 3 previous roots).
#pragma once

#include "engine/core/addr.h"
#include "engine/shadow/shadow_tables.h"

#include <cstdint>
#include <optional>
#include <vector>

namespace vmmu::shadow {

struct RootRef {
    GuestPhys gfn;
    uint32_t slot = kNoPage;
    uint32_t generation = 0;
};

class RootCache {
public:
    explicit RootCache(uint32_t capacity) : capacity_(capacity) {}

    // Removes and returns the cached root for `gfn`, if any.
    std::optional<RootRef> take(GuestPhys gfn) {
        for (size_t i = 0; i < prev_.size(); ++i) {
            if (prev_[i].gfn != gfn) continue;
            RootRef r = prev_[i];
            prev_.erase(prev_.begin() + static_cast<std::ptrdiff_t>(i));
            return r;
        }
        return std::nullopt;
    }
    // Makes `r` the most recent previous root; returns the root pushed out, if any.
    std::optional<RootRef> put(RootRef r) {
        prev_.insert(prev_.begin(), r);
        if (prev_.size() <= capacity_) return std::nullopt;
        RootRef out = prev_.back();
        prev_.pop_back();
        return out;
    }
    const std::vector<RootRef>& previous() const { return prev_; }

private:
    uint32_t capacity_;
    std::vector<RootRef> prev_; // most recent first
};

} // namespace vmmu::shadow
