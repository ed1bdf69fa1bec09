// The interface every MMU scheme implements (docs/NEW-SCHEME.md).
//
// A backend hears every guest event (engine/core/guest_events.h) and every host event
// (engine/host/host_events.h) of one VM, keeps its own TLB and walk-cache models and its own
// structures (shadow or nested tables), counts what its scheme would do, and never changes what
// the guest sees. Each access carries its functional translation, so a backend checks its own
// against it (the oracle, engine/mmu/oracle.h). It is created by name (engine/mmu/registry.h)
// with the environment in engine/mmu/backend_env.h.
#pragma once

#include "engine/core/guest_events.h"
#include "engine/host/host_events.h"
#include "engine/mmu/counters.h"

#include <string>

namespace vmmu {

class Inspector; // engine/mmu/inspect.h

class Backend : public GuestObserver, public HostObserver {
public:
    virtual std::string name() const = 0;
    // False for a scheme with no hypervisor behind it (native, a perfect TLB): host work such as
    // deduplication's scanner is not part of what it costs.
    virtual bool runs_under_hypervisor() const { return true; }

    // Every event a scheme must handle (an observer may ignore them; a scheme may not).
    void on_access(const DataAccess& a) override = 0;
    void on_fetch(const Fetch& f) override = 0;
    // on_loop_repeats(body, k): GuestObserver's default replays the body; override to count
    // k passes at once (engine/mmu/translate.h, repeat_loop).
    void on_cr3_write(uint64_t rip, uint64_t new_cr3) override = 0;
    void on_cr4_write(uint64_t rip, uint64_t new_cr4) override = 0;
    void on_invlpg(uint64_t rip, GuestVirt va) override = 0;
    void on_pt_write(uint64_t rip, GuestPhys pa, uint64_t old_value, uint64_t new_value,
                     uint8_t size) override = 0;
    void on_guest_fault(uint64_t rip, uint8_t vector, GuestVirt cr2,
                        uint32_t error_code) override = 0;
    void on_timer(uint64_t rip) override = 0;
    void on_syscall(uint64_t rip) override = 0;
    void on_hlt(uint64_t rip) override = 0;
    void on_io(uint64_t rip, uint16_t port, bool write) override = 0;
    void on_sensitive(uint64_t rip, std::string_view mnemonic) override = 0;
    void on_world_switch() override = 0;
    void on_host_remap(GuestPhys frame, HostRemap what) override = 0;

    // Results. cycles() applies the profile's cost model to the counters.
    virtual const BackendCounters& counters() const = 0;
    virtual CycleBreakdown cycles(uint64_t guest_instructions) const = 0;

    // Optional step-by-step view of the scheme's translation (engine/mmu/inspect.h); demos
    // refuse a scheme that returns none.
    virtual Inspector* inspector() { return nullptr; }
};

} // namespace vmmu
