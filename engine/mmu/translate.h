// The hardware translation path of one access, shared by the backends whose TLB misses are
// served by a single walk (native, slat): TLB lookup, a re-walk when a read-only entry served a
// write, the walk on a miss, the fill, and the oracle on the translation used.
#pragma once

#include "engine/core/addr.h"
#include "engine/mmu/tlb.h"

#include <cstdint>

namespace vmmu {

// The callbacks are small closures (a backend pointer) taken by value, and get the access as
// arguments: walk(va, pa) returns the Translation to fill; check(va, hpa, pa, write) is the
// oracle (called only when `oracle`); count_rewalk() counts a permission re-walk. Closures that
// captured the access by reference would be built on the stack on every access, hit or miss.

// The miss path, out of line so that the hit path below stays small enough to inline into each
// backend's on_access/on_fetch: a re-walk after a read-only entry served a write (`rewalk`), or
// a miss in every TLB level; then the walk, the fill and the oracle on the walked translation.
template <class CountRewalk, class Walk, class Check>
[[gnu::noinline]] void translate_miss(TlbHierarchy& tlb, uint64_t va, GuestPhys pa, bool fetch,
                                      bool write, bool rewalk, bool oracle,
                                      CountRewalk count_rewalk, Walk walk, Check check) {
    if (rewalk) count_rewalk();
    Translation w = walk(va, pa);
    tlb.fill(va, w, fetch);
    if (oracle) check(va, w.host(va), pa, write);
}

template <class CountRewalk, class Walk, class Check>
inline void translate_access(TlbHierarchy& tlb, uint64_t va, GuestPhys pa, bool fetch, bool write,
                             bool oracle, CountRewalk count_rewalk, Walk walk, Check check) {
    const Translation* t = tlb.lookup(va, fetch);
    // A cached read-only entry cannot have served a write that succeeded: the permission was
    // upgraded since (by the guest, or by the hypervisor on a copy-on-write break), so the
    // hardware faults on the entry and walks again.
    if (t && !(write && !t->writable)) [[likely]] {
        if (oracle) check(va, t->host(va), pa, write);
        return;
    }
    translate_miss(tlb, va, pa, fetch, write, t != nullptr, oracle, count_rewalk, walk, check);
}

} // namespace vmmu
