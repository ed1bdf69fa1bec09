// The oracle's isolation half: a translation must reach a host frame this VM owns, or
// a frame shared read-only by deduplication when the access does not write. The other half, hPA
// == p2m(gPA), stays in each backend; this check runs first, so a translation into another VM's
// memory is reported as what it is, naming the frame's owner.
#pragma once

#include "engine/core/guest_events.h"
#include "engine/mmu/backend_env.h"

#include <fmt/format.h>

#include <string_view>

namespace vmmu {

// layout_only: judge by the static host layout (native: bare metal has no host to remap frames).
inline void check_isolation(std::string_view backend, const BackendEnv& env, GuestVirt va,
                            GuestPhys pa, HostPhys hpa, bool write, bool layout_only = false) {
    if (!env.host) return; // a unit test's backend without a host model
    HostFrames::Owner o = layout_only ? env.host->range_owner(hpa)
                                      : env.host->owner_near(static_cast<size_t>(env.vm), hpa);
    if (o == env.vm || (o == HostFrames::kShared && !write)) return;
    throw OracleMismatch(fmt::format(
        "{}: isolation violated: VM {} {} gVA {:#x} (gPA {:#x}) reached hPA {:#x}, which is owned "
        "by {}",
        backend, env.vm, write ? "writing" : "reading", va.value(), pa.value(), hpa.value(),
        o == HostFrames::kShared ? "shared read-only (deduplicated): a write must break the "
                                   "sharing first"
                                 : HostFrames::describe(o)));
}

// Reached only when the fast compare in check_oracle fails: judges the owner first, so a
// translation into another VM's memory is reported as an isolation violation, then the address.
[[gnu::cold, gnu::noinline]] inline void
oracle_disagreement(std::string_view backend, const BackendEnv& env, GuestVirt va, GuestPhys pa,
                    HostPhys hpa, HostPhys expected, bool write, bool layout_only) {
    check_isolation(backend, env, va, pa, hpa, write, layout_only);
    if (hpa == expected) return; // no host model to judge a shared frame by
    throw OracleMismatch(fmt::format("{}: gVA {:#x} translated to hPA {:#x}, functional gPA {:#x} "
                                     "is hPA {:#x}",
                                     backend, va.value(), hpa.value(), pa.value(),
                                     expected.value()));
}

// The whole oracle for one translation: hpa must be `expected` (p2m(gPA); the static layout for
// native) and reach a frame this VM owns, or a shared frame when the access does not write.
// The common case is one compare, inlined into every backend's hot path: deduplication
// (engine/host/dedup.cpp) points a p2m entry only at a frame it has just given to this VM or at a
// shared one, so hpa == expected implies a permitted owner unless the access writes a shared
// frame. Everything else is judged out of line by oracle_disagreement.
inline void check_oracle(std::string_view backend, const BackendEnv& env, GuestVirt va,
                         GuestPhys pa, HostPhys hpa, HostPhys expected, bool expected_shared,
                         bool write, bool layout_only = false) {
    if (hpa == expected && !(write && expected_shared)) [[likely]]
        return;
    oracle_disagreement(backend, env, va, pa, hpa, expected, write, layout_only);
}

} // namespace vmmu
