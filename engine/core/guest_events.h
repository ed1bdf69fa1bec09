// The events the functional layer emits, and the interface of whoever observes them.
//
// The vCPU runs the guest once and tells every attached observer what the guest did, in program
// order: each executed block's fetch, each data access, and the guest events a hypervisor may
// intercept (docs/ARCHITECTURE.md, "Event flow"). Observers only watch: they never change what
// the guest sees. MMU schemes (engine/mmu/backend.h) are observers; so are tools such as the
// host's frame tracker (engine/host/frame_tracker.h). Every event has a default that ignores it.
#pragma once

#include "engine/core/addr.h"

#include <cstddef>
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
// As a loop body (GuestObserver::on_loop_repeats), it also carries where each repeated execution
// accessed: `offsets` holds, execution by execution, the offset in its 4K page of each access
// (k × accesses.size() of them); empty, every execution accesses the body's own addresses.
struct BlockEvents {
    Fetch fetch;
    std::span<const DataAccess> accesses;
    std::span<const uint16_t> offsets;

    // Access i of the body's repeated execution `pass` (0 = the first repeat): the body's
    // access, at that execution's offset in the same pages of gVA and gPA.
    DataAccess access(uint64_t pass, size_t i) const {
        DataAccess a = accesses[i];
        if (!offsets.empty()) {
            uint16_t off = offsets[pass * accesses.size() + i];
            a.va = a.va.page_base() + off;
            a.pa = a.pa.page_base() + off;
        }
        return a;
    }
};

// A Hyper-V TLB flush hypercall (TLFS: HvFlushVirtualAddressSpace, HvFlushVirtualAddressList).
struct HvFlush {
    uint64_t address_space = 0;       // the CR3 value whose translations go
    uint64_t flags = 0;               // HV_FLUSH_* (workloads/include/vmmu/abi.h)
    bool whole_space = false;         // HvFlushVirtualAddressSpace; else a list
    uint64_t ranges = 0;              // list elements the guest passed (each 1 to 4096 pages)
    std::span<const GuestVirt> pages; // every page the list names, in order
    // Several vCPUs: the hypercall names processors (ProcessorMask or HV_FLUSH_ALL_PROCESSORS).
    // `vcpus` (bit i: vCPU i) are those whose TLB it flushes: the caller if named, and each
    // other named, started vCPU whose CR3 holds the address space (with no PCIDs one that holds
    // another has nothing of it cached). The observers hear the hypercall once as the caller's
    // (remote = false: its exit, and its own flush if `current`), then once per other vCPU in
    // `vcpus`, with that vCPU made current by on_vcpu_switch (remote = true: the hypervisor
    // flushes that vCPU's TLB; it executes nothing and does not exit), then on_vcpu_switch back.
    uint32_t vcpus = 1;
    bool current = true; // this delivery flushes the current vCPU's TLB
    bool remote = false; // this delivery is a target's part
};

class GuestObserver {
public:
    virtual ~GuestObserver() = default;
    // Whether the observer keeps what it models per vCPU (several vCPUs per VM): a machine whose
    // guest starts a second vCPU refuses observers that do not.
    virtual bool models_vcpus() const { return false; }
    // Several vCPUs: vCPU `index` starts (VMMU_HC_START_CPU) with the paging state of the vCPU
    // running now (its CR3 and CR4) and empty TLBs and caches of its own; and vCPU `index` runs
    // next: every event until the next switch is its. Before the first switch, vCPU 0 runs.
    virtual void on_vcpu_start(unsigned /*index*/) {}
    virtual void on_vcpu_switch(unsigned /*index*/) {}

    // Hot path: every data access and every executed block.
    virtual void on_access(const DataAccess&) {}
    virtual void on_fetch(const Fetch&) {}
    // `k` more executions of a loop whose body the observer has just seen run: each execution is,
    // for each block of `body` in order, on_fetch(fetch) and then on_access() of each of its
    // accesses in order, with nothing between them. (The vCPU sends a loop's repeated iterations
    // this way; a body is one block or a few.) The executions match the body page by page: the
    // same blocks, and accesses of the same sizes and kinds to the same 4K pages of gVA and gPA;
    // each access's offset in its page is its execution's own (BlockEvents::access). The default
    // makes those calls.
    virtual void on_loop_repeats(std::span<const BlockEvents> body, uint64_t k) {
        for (uint64_t pass = 0; pass < k; ++pass) replay_pass(body, pass);
    }
    // Repeated execution `pass` of a loop body, event by event (on_loop_repeats' default).
    void replay_pass(std::span<const BlockEvents> body, uint64_t pass) {
        for (const BlockEvents& b : body) {
            on_fetch(b.fetch);
            for (size_t i = 0; i < b.accesses.size(); ++i) on_access(b.access(pass, i));
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
    // Several vCPUs (workloads/include/vmmu/abi.h, "SMP"): the running vCPU writes its local-APIC
    // port (`port`) to send an IPI to the CPUs in `dests` (bit i: CPU i; never empty), or to end
    // the interrupt in service (EOI); and an IPI arrives on the running vCPU (delivered with
    // IF=1, before the instruction at `rip`). The defaults treat an APIC write as the port write
    // it is, which is what an observer that does not model APIC exits sees.
    virtual void on_ipi_send(uint64_t rip, uint16_t port, uint8_t /*vector*/, uint32_t /*dests*/) {
        on_io(rip, port, true);
    }
    virtual void on_eoi(uint64_t rip, uint16_t port) { on_io(rip, port, true); }
    virtual void on_ipi_receive(uint64_t /*rip*/, uint8_t /*vector*/) {}
    // Other instructions a hypervisor may intercept (mov cr0, wrmsr, cpuid, ...).
    virtual void on_sensitive(uint64_t /*rip*/, std::string_view /*mnemonic*/) {}

    // Hyper-V enlightenments: hypercalls an enlightened guest makes instead of `mov cr3` and
    // `invlpg` (--hypervisor hyperv). The defaults treat each as the plain instruction it
    // replaces, which is what a host that does not intercept them (native, SLAT) would see: a
    // switch is a CR3 write, a space flush a CR3 reload, a list one invlpg per page, on each
    // vCPU the flush reaches (a remote one's as if it executed them, without an IPI: HvFlush).
    virtual void on_hv_switch_as(uint64_t rip, uint64_t new_cr3) { on_cr3_write(rip, new_cr3); }
    virtual void on_hv_flush(uint64_t rip, const HvFlush& f) {
        if (!f.current) return; // the caller named only other processors
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
