// Host-physical memory as frames with owners (isolation).
//
// Every 4 KiB host frame has exactly one owner: a VM (by index), the hypervisor (EPT pages,
// shadow pages), "shared" (one read-only copy that deduplication maps into several guest
// frames), or nobody (free, or no memory there). Each VM starts with its guest range, owned by
// it, followed by its hypervisor structures; deduplication frees duplicate frames to a pool and
// hands them back out when a write breaks the sharing. The backends' oracle asks owner() on
// every translation, so it is a couple of loads.
#pragma once

#include "engine/core/addr.h"

#include <fmt/format.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace vmmu {

// Where VM `index` lives in host-physical memory: its guest range starts at the base, its
// hypervisor structures after it (EPT tables from the next 1 GiB boundary, engine/mmu/ept.cpp;
// shadow pages 1 GiB above those, engine/shadow/shadow_mmu.cpp).
struct HostRange {
    uint64_t base = 0;      // hPA of gPA 0
    uint64_t guest_end = 0; // base + guest bytes
    uint64_t end = 0;       // end of the VM's hypervisor structures
};

// VMs are laid out from 4 GiB (the single-VM default) with one stride for all: the largest
// guest rounded up to 1 GiB, plus 1 GiB for the EPT pool and 1 GiB for the shadow-page pool.
inline std::vector<HostRange> host_layout(const std::vector<uint64_t>& guest_bytes) {
    constexpr uint64_t kGiB = uint64_t{1} << 30;
    uint64_t largest = 0;
    for (uint64_t g : guest_bytes) largest = std::max(largest, g);
    const uint64_t stride = (largest + kGiB - 1) / kGiB * kGiB + 2 * kGiB;
    std::vector<HostRange> out;
    for (size_t i = 0; i < guest_bytes.size(); ++i) {
        HostRange r;
        r.base = 4 * kGiB + i * stride;
        r.guest_end = r.base + guest_bytes[i];
        r.end = r.base + stride;
        out.push_back(r);
    }
    return out;
}

class HostFrames {
public:
    using Owner = int32_t; // >= 0: a VM's index
    static constexpr Owner kHypervisor = -1, kShared = -2, kFree = -3, kNone = -4;

    // ranges: host_layout() of every VM on the host, in VM order.
    explicit HostFrames(std::vector<HostRange> ranges) : ranges_(std::move(ranges)) {
        if (ranges_.empty()) throw std::invalid_argument("host frames: no VM ranges");
        stride_ = ranges_[0].end - ranges_[0].base;
        for (size_t i = 0; i < ranges_.size(); ++i) {
            const HostRange& r = ranges_[i];
            if (r.end - r.base != stride_ || r.base != ranges_[0].base + i * stride_)
                throw std::invalid_argument("host frames: VM ranges must share one stride");
            owners_.emplace_back((r.guest_end - r.base) >> kPageShift4K, static_cast<Owner>(i));
        }
    }

    size_t vms() const { return ranges_.size(); }
    const HostRange& range(size_t vm) const { return ranges_.at(vm); }

    // Owner of the frame holding hpa, as the host has assigned it.
    Owner owner(HostPhys hpa) const {
        uint64_t a = hpa.value(), first = ranges_[0].base;
        if (a < first) return kNone;
        uint64_t vm = (a - first) / stride_;
        if (vm >= ranges_.size()) return kNone;
        uint64_t off = a - ranges_[vm].base;
        const auto& frames = owners_[vm];
        if ((off >> kPageShift4K) < frames.size()) return frames[off >> kPageShift4K];
        return kHypervisor;
    }
    // owner(), with a fast path for a frame in VM `vm`'s own guest range (the oracle's case).
    Owner owner_near(size_t vm, HostPhys hpa) const {
        uint64_t off = hpa.value() - ranges_[vm].base;
        const auto& frames = owners_[vm];
        if (hpa.value() >= ranges_[vm].base && (off >> kPageShift4K) < frames.size())
            return frames[off >> kPageShift4K];
        return owner(hpa);
    }
    // Owner by the static layout alone (what bare metal, without a host remapping, has).
    Owner range_owner(HostPhys hpa) const {
        uint64_t a = hpa.value(), first = ranges_[0].base;
        if (a < first) return kNone;
        uint64_t vm = (a - first) / stride_;
        if (vm >= ranges_.size()) return kNone;
        return a < ranges_[vm].guest_end ? static_cast<Owner>(vm) : kHypervisor;
    }

    // Hands the frame at hpa (a guest-range frame) to `owner`; kFree puts it in the pool.
    void set_owner(HostPhys hpa, Owner owner) {
        Owner& o = slot(hpa);
        if (owner == kFree && o != kFree) free_.push_back(hpa.page_base());
        o = owner;
    }
    // Takes a free frame for `owner` (most recently freed first: deterministic).
    HostPhys allocate(Owner owner) {
        while (!free_.empty()) {
            HostPhys f = free_.back();
            free_.pop_back();
            Owner& o = slot(f);
            if (o != kFree) continue; // taken back since it was freed
            o = owner;
            return f;
        }
        throw std::runtime_error("host frames: no free frame left in the host pool");
    }

    static std::string describe(Owner o) {
        switch (o) {
        case kHypervisor:
            return "the hypervisor";
        case kShared:
            return "shared read-only (deduplicated)";
        case kFree:
            return "nobody (a free host frame)";
        case kNone:
            return "nobody (no host memory there)";
        default:
            return fmt::format("VM {}", o);
        }
    }

private:
    Owner& slot(HostPhys hpa) {
        uint64_t a = hpa.value(), first = ranges_[0].base;
        uint64_t vm = a >= first ? (a - first) / stride_ : ranges_.size();
        uint64_t f = vm < ranges_.size() ? (a - ranges_[vm].base) >> kPageShift4K : 0;
        if (vm >= ranges_.size() || f >= owners_[vm].size())
            throw std::logic_error(
                fmt::format("host frames: hPA {:#x} is not in any VM's guest range", a));
        return owners_[vm][f];
    }

    std::vector<HostRange> ranges_;
    uint64_t stride_ = 0;
    std::vector<std::vector<Owner>> owners_; // per VM, per frame of its guest range
    std::vector<HostPhys> free_;
};

} // namespace vmmu
