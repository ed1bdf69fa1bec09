// The hardware translation path of one access, shared by the backends whose TLB misses are
// served by a single walk (native, slat): TLB lookup, a re-walk when a read-only entry served a
// write, the walk on a miss, the fill, and the oracle on the translation used.
#pragma once

#include "engine/mmu/tlb.h"

#include <cstdint>

namespace vmmu {

// walk() returns the Translation to fill; check(hpa) is the oracle (called only when `oracle`);
// count_rewalk() counts a permission re-walk.
template <class CountRewalk, class Walk, class Check>
inline void translate_access(TlbHierarchy& tlb, uint64_t va, bool fetch, bool write, bool oracle,
                             CountRewalk&& count_rewalk, Walk&& walk, Check&& check) {
    const Translation* t = tlb.lookup(va, fetch);
    // A cached read-only entry cannot have served a write that succeeded: the permission was
    // upgraded since (by the guest, or by the hypervisor on a copy-on-write break), so the
    // hardware faults on the entry and walks again.
    if (t && write && !t->writable) {
        count_rewalk();
        t = nullptr;
    }
    if (t) {
        if (oracle) check(t->host(va));
        return;
    }
    Translation w = walk();
    tlb.fill(va, w, fetch);
    if (oracle) check(w.host(va));
}

} // namespace vmmu
