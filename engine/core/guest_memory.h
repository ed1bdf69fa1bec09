// Guest-physical memory: one engine-owned buffer, [0, size), lazily committed by the host OS.
//
// Unicorn maps this buffer as guest RAM (execute-only, see docs/ARCHITECTURE.md), so the bytes QEMU
// fetches and the bytes the engine reads and writes for the MMIO window are the same bytes.
// Page-table frames that an MMU model has to hear about when written are "watched" here;
// the MMIO write path reports a write to a watched frame to every backend.
#pragma once

#include "engine/core/addr.h"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace vmmu {

class GuestMemory {
public:
    explicit GuestMemory(uint64_t bytes);
    ~GuestMemory();
    GuestMemory(const GuestMemory&) = delete;
    GuestMemory& operator=(const GuestMemory&) = delete;

    uint64_t size() const { return size_; }
    uint8_t* data() { return base_; }
    const uint8_t* data() const { return base_; }
    bool contains(GuestPhys pa, uint64_t len = 1) const {
        return pa.value() <= size_ && len <= size_ - pa.value();
    }

    // Raw access; the caller has checked contains().
    uint8_t* host_ptr(GuestPhys pa) { return base_ + pa.value(); }
    const uint8_t* host_ptr(GuestPhys pa) const { return base_ + pa.value(); }

    uint64_t read_u64(GuestPhys pa) const {
        uint64_t v;
        std::memcpy(&v, base_ + pa.value(), sizeof v);
        return v;
    }
    void write_u64(GuestPhys pa, uint64_t v) { std::memcpy(base_ + pa.value(), &v, sizeof v); }

    // Bounds-checked copies; throw std::out_of_range naming the address.
    void read(GuestPhys pa, void* dst, uint64_t len) const;
    void write(GuestPhys pa, const void* src, uint64_t len);

    // Watched frames (reference-counted, so several models may watch one frame).
    void watch(GuestPhys pa) {
        ++watch_[pa.page_number()];
        ever_watched_[pa.page_number()] = 1;
    }
    void unwatch(GuestPhys pa) {
        auto& c = watch_[pa.page_number()];
        if (c > 0) --c;
    }
    bool watched(GuestPhys pa) const { return watch_[pa.page_number()] != 0; }
    // Watched now or at any time before (the vCPU's repeat counting, DataPath::write).
    bool ever_watched(GuestPhys pa) const { return ever_watched_[pa.page_number()] != 0; }

    // Frames whose guest writes the host traps (a frame it shares read-only: memory
    // deduplication, engine/host/dedup.h). Cheap to ask while none is trapped (the common case).
    void trap_writes(GuestPhys pa, bool on) {
        auto& t = trapped_[pa.page_number()];
        trapped_count_ += static_cast<int64_t>(on) - t;
        t = on;
    }
    bool writes_trapped(GuestPhys pa) const {
        return trapped_count_ != 0 && trapped_[pa.page_number()];
    }

private:
    uint8_t* base_ = nullptr;
    uint64_t size_ = 0;
    std::vector<uint16_t> watch_;
    std::vector<uint8_t> ever_watched_;
    std::vector<uint8_t> trapped_;
    int64_t trapped_count_ = 0;
};

} // namespace vmmu
