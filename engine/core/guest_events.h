// The events the functional layer emits, and the interface of whoever observes them.
//
// The vCPU runs the guest once and tells every attached observer what the guest did, in program
// order: each executed block's fetch, each data access, and the guest events a hypervisor may
// intercept (docs/ARCHITECTURE.md, "Event flow"). Observers only watch: they never change what
// the guest sees. MMU schemes (engine/mmu/backend.h) are observers; so are tools such as the
// host's frame tracker (engine/host/frame_tracker.h). Every event has a default that ignores it.
#pragma once

#include "engine/core/addr.h"

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string_view>

namespace vmmu {

struct DataAccess {
    GuestVirt va;
    GuestPhys pa; // functional translation of va
    uint8_t size;
    bool write;
    bool user; // the guest is in a user program (it runs at CPL0; docs/ARCHITECTURE.md)
};

struct Fetch {
    GuestVirt va; // first byte of an executed block
    GuestPhys pa; // its functional translation (== va: code is identity-mapped)
    uint32_t bytes;
    uint32_t instructions;
    bool user;
};

// One execution of a block as observers see it: its fetch, then its data accesses in order.
struct BlockEvents {
    Fetch fetch;
    std::span<const DataAccess> accesses;
};

// A Hyper-V TLB flush hypercall (TLFS: HvFlushVirtualAddressSpace, HvFlushVirtualAddressList).
struct HvFlush {
    uint64_t address_space = 0;       // the CR3 value whose translations go
    uint64_t flags = 0;               // HV_FLUSH_* (workloads/include/vmmu/abi.h)
    bool whole_space = false;         // HvFlushVirtualAddressSpace; else a list
    uint64_t ranges = 0;              // list elements the guest passed (each 1 to 4096 pages)
    std::span<const GuestVirt> pages; // every page the list names, in order
};

class GuestObserver {
public:
    virtual ~GuestObserver() = default;
    // Whether the observer keeps what it models per vCPU (several vCPUs per VM): a machine whose
    // guest starts a second vCPU refuses observers that do not.
    virtual bool models_vcpus() const { return false; }

    // Hot path: every data access and every executed block.
    virtual void on_access(const DataAccess&) {}
    virtual void on_fetch(const Fetch&) {}
    // `k` more executions of a loop whose body the observer has just seen run: each execution is,
    // for each block of `body` in order, on_fetch(fetch) and then on_access() of each of its
    // accesses in order, with nothing between them. (The vCPU sends a loop's repeated iterations
    // this way; a body is one block or a few.) The executions match the body page by page: the
    // same blocks, and accesses to the same 4K pages of gVA and gPA, of the same kinds; an
    // access's offset in its page may differ. The default makes those calls.
    virtual void on_loop_repeats(std::span<const BlockEvents> body, uint64_t k) {
        for (; k; --k)
            for (const BlockEvents& b : body) {
                on_fetch(b.fetch);
                for (const DataAccess& a : b.accesses) on_access(a);
            }
    }

    // Guest events (rip: the guest instruction that caused it).
    virtual void on_cr3_write(uint64_t /*rip*/, uint64_t /*new_cr3*/) {}
    virtual void on_cr4_write(uint64_t /*rip*/, uint64_t /*new_cr4*/) {}
    virtual void on_invlpg(uint64_t /*rip*/, GuestVirt) {}
    // A write to a watched guest frame (a guest page table), after it was applied.
    virtual void on_pt_write(uint64_t /*rip*/, GuestPhys, uint64_t /*old_value*/,
                             uint64_t /*new_value*/, uint8_t /*size*/) {}
    virtual void on_guest_fault(uint64_t /*rip*/, uint8_t /*vector*/, GuestVirt /*cr2*/,
                                uint32_t /*error_code*/) {}
    virtual void on_timer(uint64_t /*rip*/) {}
    virtual void on_syscall(uint64_t /*rip*/) {}
    virtual void on_hlt(uint64_t /*rip*/) {}
    virtual void on_io(uint64_t /*rip*/, uint16_t /*port*/, bool /*write*/) {}
    // Other instructions a hypervisor may intercept (mov cr0, wrmsr, cpuid, ...).
    virtual void on_sensitive(uint64_t /*rip*/, std::string_view /*mnemonic*/) {}

    // Hyper-V enlightenments: hypercalls an enlightened guest makes instead of `mov cr3` and
    // `invlpg` (--hypervisor hyperv). The defaults treat each as the plain instruction it
    // replaces, which is what a host that does not intercept them (native, SLAT) would see: a
    // switch is a CR3 write, a space flush a CR3 reload, a list one invlpg per page.
    virtual void on_hv_switch_as(uint64_t rip, uint64_t new_cr3) { on_cr3_write(rip, new_cr3); }
    virtual void on_hv_flush(uint64_t rip, const HvFlush& f) {
        if (f.whole_space) {
            on_cr3_write(rip, f.address_space);
            return;
        }
        for (GuestVirt va : f.pages) on_invlpg(rip, va);
    }
};

// Thrown by an observer whose own translation disagrees with the functional one (the oracle):
// the vCPU stops the run with StopKind::OracleMismatch and this message.
struct OracleMismatch : std::runtime_error {
    using std::runtime_error::runtime_error;
};

} // namespace vmmu
