// The hardware translation path of one access, shared by the backends whose TLB misses are
// served by a single walk (native, slat): TLB lookup, a re-walk when a read-only entry served a
// write, the walk on a miss, the fill, and the oracle on the translation used.
#pragma once

#include "engine/core/addr.h"
#include "engine/mmu/backend.h"
#include "engine/mmu/cache.h"
#include "engine/mmu/tlb.h"

#include <cstdint>
#include <span>

namespace vmmu {

// Calls lookup(va, pa) once per 4K page a block spans: its first byte, then each page start
// (code is identity-mapped, so pa follows va). A block within one page (nearly all) is one
// inline call; the loop over several pages is out of line, so that the common case does not pay
// for its stack frame.
template <class Lookup>
[[gnu::noinline]] void for_each_fetch_page_loop(const Fetch& f, Lookup lookup) {
    uint64_t first = f.va.page_number(), last = (f.va + (f.bytes ? f.bytes - 1 : 0)).page_number();
    for (uint64_t p = first; p <= last; ++p) {
        GuestVirt va = p == first ? f.va : GuestVirt(p << kPageShift4K);
        lookup(va, f.pa + (va - f.va));
    }
}
template <class Lookup> inline void for_each_fetch_page(const Fetch& f, Lookup lookup) {
    if (f.va.page_number() == (f.va + (f.bytes ? f.bytes - 1 : 0)).page_number()) [[likely]]
        return lookup(f.va, f.pa);
    for_each_fetch_page_loop(f, lookup);
}

// The hit path every backend inlines: an L1 hit the TLB's memo knows and the access may use
// (a read-only entry cannot serve a write), with the oracle's compare. Anything else goes to
// slow(recalled), which the backend keeps out of line; a non-null `recalled` there is an entry
// recall() counted and that must be re-walked for the write.
template <class Check, class Slow>
inline void translate_fast(TlbHierarchy& tlb, GuestVirt va, GuestPhys pa, bool fetch, bool write,
                           bool oracle, Check check, Slow slow) {
    const Translation* recalled = tlb.recall(va, fetch);
    if (recalled && (recalled->writable || !write)) [[likely]] {
        if (oracle) check(va, recalled->host(va), pa, write);
        return;
    }
    slow(recalled);
}

// on_loop_repeats() for the backends above: k more executions of a loop body (Backend). When
// every fetch and every access of the body is an L1 hit the memos know, on an entry the access
// may use, an execution changes nothing but the lookup counts and the data caches, so each of the
// k would find the same: they are counted at once, the oracle compares each entry once (every
// execution uses it, on the same pages), and the caches see every execution's data accesses in
// order at their own offsets (data_hpa(pa): the host-physical address the backend's on_access
// feeds its caches, called once per access of the body). Otherwise one execution takes the
// backend's full path (`once(pass)`, GuestObserver::replay_pass) and the test is made again.
// `ready()` is the backend's own condition for an execution to be lookups only.
template <class Ready, class Check, class Once, class DataHpa>
void repeat_loop(TlbHierarchy& tlb, CacheHierarchy& caches, std::span<const BlockEvents> body,
                 uint64_t k, bool oracle, Ready ready, Check check, Once once, DataHpa data_hpa) {
    auto all_hits = [&] {
        if (!ready()) return false;
        for (const BlockEvents& b : body) {
            bool hits = true;
            for_each_fetch_page(
                b.fetch, [&](GuestVirt va, GuestPhys) { hits = hits && tlb.known_hit(va, true); });
            if (!hits) return false;
            for (const DataAccess& a : b.accesses) {
                const Translation* t = tlb.known_hit(a.va, false);
                if (!t || (a.write && !t->writable)) return false;
            }
        }
        return true;
    };
    for (uint64_t pass = 0; pass < k; ++pass) {
        if (!all_hits()) {
            once(pass);
            continue;
        }
        const uint64_t left = k - pass;
        for (const BlockEvents& b : body) {
            uint64_t fetch_pages = 0;
            for_each_fetch_page(b.fetch, [&](GuestVirt, GuestPhys) { ++fetch_pages; });
            tlb.count_l1_hits(true, left * fetch_pages);
            tlb.count_l1_hits(false, left * b.accesses.size());
            if (!oracle) continue;
            for_each_fetch_page(b.fetch, [&](GuestVirt va, GuestPhys pa) {
                check(va, tlb.known_hit(va, true)->host(va), pa, false);
            });
            for (const DataAccess& a : b.accesses)
                check(a.va, tlb.known_hit(a.va, false)->host(a.va), a.pa, a.write);
        }
        if (caches.enabled()) caches.data_passes(body, pass, k, data_hpa);
        return;
    }
}

// The full path, called out of line by each backend when translate_fast() had no answer:
// the TLB lookup (unless `recalled` already counted it), a re-walk when a read-only entry served
// a write, the walk on a miss, the fill, and the oracle on the translation used.
// The callbacks are small closures (a backend pointer) taken by value, and get the access as
// arguments: walk(va, pa) returns the Translation to fill; check(va, hpa, pa, write) is the
// oracle (called only when `oracle`); count_rewalk() counts a permission re-walk.
template <class CountRewalk, class Walk, class Check>
void translate_access(TlbHierarchy& tlb, GuestVirt va, GuestPhys pa, bool fetch, bool write,
                      const Translation* recalled, bool oracle, CountRewalk count_rewalk, Walk walk,
                      Check check) {
    const Translation* t = recalled ? recalled : tlb.lookup(va, fetch);
    // A cached read-only entry cannot have served a write that succeeded: the permission was
    // upgraded since (by the guest, or by the hypervisor on a copy-on-write break), so the
    // hardware faults on the entry and walks again.
    if (t && !(write && !t->writable)) {
        if (oracle) check(va, t->host(va), pa, write);
        return;
    }
    if (t) count_rewalk();
    Translation w = walk(va, pa);
    tlb.fill(va, w, fetch);
    if (oracle) check(va, w.host(va), pa, write);
}

} // namespace vmmu
