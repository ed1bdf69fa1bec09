#include "engine/mmu/ept.h"

#include "engine/core/paging.h"

#include <fmt/format.h>

#include <stdexcept>

namespace vmmu {

EptTables::EptTables(const P2m& p2m, uint64_t guest_bytes, unsigned leaf_shift, int levels)
    : p2m_(p2m), leaf_shift_(leaf_shift), levels_(levels) {
    if (leaf_shift != 12 && leaf_shift != 21 && leaf_shift != 30)
        throw std::invalid_argument(
            fmt::format("EPT page shift {} is not 12, 21 or 30", leaf_shift));
    if (levels != 4 && levels != 5)
        throw std::invalid_argument(fmt::format("EPT levels {} is not 4 or 5", levels));
    // The pool starts on the first 1 GiB boundary above the VM's host range.
    constexpr uint64_t kGiB = uint64_t{1} << 30;
    uint64_t end = p2m.base().value() + guest_bytes;
    pool_base_ = HostPhys((end + kGiB - 1) / kGiB * kGiB);
    root_ = alloc_table();
}

EptTables::Table& EptTables::table(HostPhys entry) const {
    uint64_t index = (entry - pool_base_) >> kPageShift4K;
    if (entry < pool_base_ || index >= tables_.size())
        throw std::logic_error(
            fmt::format("hPA {:#x} is not an EPT table page of this VM", entry.value()));
    return *tables_[index];
}

HostPhys EptTables::alloc_table() {
    HostPhys frame = pool_base_ + (tables_.size() << 12);
    tables_.push_back(std::make_unique<Table>());
    tables_.back()->fill(0);
    return frame;
}

unsigned EptTables::map(GuestPhys gpa) {
    int leaf_level = leaf_shift_ == 12 ? 1 : leaf_shift_ == 21 ? 2 : 3;
    unsigned created = 0;
    HostPhys table = root_;
    for (int level = levels_; level > leaf_level; --level) {
        HostPhys entry = table + 8ull * x86::table_index(gpa, level);
        uint64_t e = read(entry);
        if (!ept::present(e)) {
            // Allocate first: growing tables_ does not move existing tables (unique_ptr).
            HostPhys next = alloc_table();
            ++created;
            e = next.value() | ept::kRead | ept::kWrite | ept::kExec;
            write(entry, e);
        }
        table = HostPhys(e & ept::kAddrMask);
    }
    GuestPhys base = gpa.page_base(leaf_shift_);
    HostPhys frame = p2m_.translate(base);
    // A frame the host shares (deduplication) is mapped read-only: a write to it is an EPT
    // violation (SDM vol. 3, "EPT-induced VM exits").
    uint64_t writable = leaf_shift_ == kPageShift4K && p2m_.shared(base) ? 0 : ept::kWrite;
    uint64_t leaf = frame.value() | ept::kRead | writable | ept::kExec | ept::kMemTypeWb |
                    (leaf_level > 1 ? ept::kLarge : 0);
    write(table + 8ull * x86::table_index(gpa, leaf_level), leaf);
    return created;
}

std::optional<HostPhys> EptTables::leaf_entry(GuestPhys gpa) const {
    HostPhys table = root_;
    for (int level = levels_; level >= 1; --level) {
        HostPhys entry = table + 8ull * x86::table_index(gpa, level);
        uint64_t e = read(entry);
        if (!ept::present(e)) return std::nullopt;
        if (ept::leaf(e, level)) return entry;
        table = HostPhys(e & ept::kAddrMask);
    }
    return std::nullopt;
}

} // namespace vmmu
