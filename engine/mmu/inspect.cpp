#include "engine/mmu/inspect.h"

#include "engine/core/paging.h"

#include <stdexcept>

namespace vmmu {

std::vector<Ref1d> guest_walk(const GuestMemory& memory, GuestPhys root, GuestVirt va, int levels) {
    std::vector<Ref1d> refs;
    GuestPhys table = root;
    for (int level = levels; level >= 1; --level) {
        GuestPhys entry = table + 8ull * x86::table_index(va, level);
        if (!memory.contains(entry, 8)) break;
        uint64_t e = memory.read_u64(entry);
        refs.push_back({level, entry.value(), e});
        if (!(e & x86::kPteP) || level == 1 || (e & x86::kPtePs)) break;
        table = GuestPhys(e & x86::kPteAddrMask);
    }
    return refs;
}

Walk1d Inspector::walk_1d(GuestVirt) {
    throw std::logic_error("walk_1d: this scheme's hardware walk is not one-dimensional");
}

Walk2d Inspector::trace_2d(GuestVirt, WalkCaches) {
    throw std::logic_error("trace_2d: this scheme's hardware walk is not two-dimensional");
}

WalkMixed Inspector::trace_mixed(GuestVirt) {
    throw std::logic_error("trace_mixed: this scheme's hardware walk is not mixed");
}

unsigned Inspector::nested_page_shift() const {
    throw std::logic_error("nested_page_shift: this scheme has no nested tables");
}

int Inspector::nested_levels() const {
    throw std::logic_error("nested_levels: this scheme has no nested tables");
}

} // namespace vmmu
