#include "engine/mmu/inspect.h"

#include "engine/core/paging.h"

#include <stdexcept>

namespace vmmu {

std::vector<Ref1d> guest_walk(const GuestMemory& memory, GuestPhys root, uint64_t va) {
    std::vector<Ref1d> refs;
    uint64_t table = root.value();
    for (int level = 4; level >= 1; --level) {
        GuestPhys entry(table + 8ull * x86::table_index(va, level));
        if (!memory.contains(entry, 8)) break;
        uint64_t e = memory.read_u64(entry);
        refs.push_back({level, entry.value(), e});
        if (!(e & x86::kPteP) || level == 1 || (e & x86::kPtePs)) break;
        table = e & x86::kPteAddrMask;
    }
    return refs;
}

Walk1d Inspector::walk_1d(uint64_t) {
    throw std::logic_error("walk_1d: this scheme's hardware walk is not one-dimensional");
}

Walk2d Inspector::trace_2d(uint64_t, WalkCaches) {
    throw std::logic_error("trace_2d: this scheme's hardware walk is not two-dimensional");
}

unsigned Inspector::nested_page_shift() const {
    throw std::logic_error("nested_page_shift: this scheme has no nested tables");
}

} // namespace vmmu
