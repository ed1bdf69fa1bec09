// The vCPU: one Unicorn instance running the guest, and the hooks that wire it to the parts of
// the functional layer (docs/ARCHITECTURE.md, "Event flow"). Each part does one job: the block
// clock counts instructions and schedules ticks, the budget and quanta (block_clock.h); the
// data path serves the MMIO window (data_path.h); the loop coalescer decides what the observers
// see one event at a time (loop_coalescer.h); x86 events delivers exceptions, interrupts and
// syscalls (x86_events.h); port I/O runs the console and hypercalls (port_io.h). The vCPU owns
// them, installs the hooks, reports sensitive instructions, and runs the loop that starts
// Unicorn and acts on why it stopped (vcpu_run.cpp). Internal to engine/core (Machine owns it).
#pragma once

#include "engine/core/block_clock.h"
#include "engine/core/boot.h"
#include "engine/core/data_path.h"
#include "engine/core/event_log.h"
#include "engine/core/lapic.h"
#include "engine/core/loop_coalescer.h"
#include "engine/core/machine.h"
#include "engine/core/port_io.h"
#include "engine/core/run_stop.h"
#include "engine/core/sensitive.h"
#include "engine/core/stop_request.h"
#include "engine/core/uc_regs.h"
#include "engine/core/x86_events.h"

#include <unicorn/unicorn.h>

#include <deque>
#include <functional>
#include <string>
#include <vector>

namespace vmmu {

class Vcpu;
struct SensitiveHookData {
    Vcpu* vcpu;
    const SensitiveInsn* insn;
};

class Vcpu {
public:
    // vCPU `index` of the machine: CPU 0 starts at the kernel's entry; another waits for
    // start() (VMMU_HC_START_CPU). The ports of every vCPU share `shared`, and reach the
    // others through `bus`.
    Vcpu(GuestMemory& mem, const BootState& boot, const ElfImage& kernel,
         const MachineConfig& config, const std::vector<GuestObserver*>& observers, unsigned index,
         PortShared& shared, CpuBus& bus);
    Vcpu(const Vcpu&) = delete;
    Vcpu& operator=(const Vcpu&) = delete;

    // Runs until the guest stops, or until `quantum` more instructions have retired (0: no
    // quantum); a run cut by its quantum returns StopKind::Quantum and can be resumed.
    // With several vCPUs (MachineConfig::vcpus > 1) a vCPU that halts with interrupts enabled and
    // nothing to deliver returns at once with StopKind::Quantum and halted() true; the machine
    // wakes it (wake()) when an interrupt is due.
    RunResult run(uint64_t quantum = 0);
    bool finished() const { return run_stop_.stopped(); }

    // Several vCPUs (engine/core/machine.cpp schedules them).
    unsigned index() const { return index_; }
    uint64_t instructions() const { return clock_.instructions(); }
    // Starts this AP as VMMU_HC_START_CPU asks: `from`'s control state, rip, rsp, RDI = index.
    void start(const Vcpu& from, uint64_t rip, uint64_t rsp);
    bool halted() const { return halted_; }
    // Halted with interrupts disabled: nothing wakes it again (no NMI or INIT is modelled).
    bool parked() const { return parked_; }
    // Every started vCPU is parked: the guest stops with an error at this one's hlt.
    void stop_parked();
    Lapic& lapic() { return lapic_; }
    // The address space CR3 holds (without PCID or flag bits), and a flush of the functional
    // TLB on another vCPU's behalf (a Hyper-V remote flush, CpuBus::hv_flush_targets).
    uint64_t address_space() const { return data_.cr3() & ~uint64_t{0xfff}; }
    void flush_functional_tlb() { data_.flush_tlb(); }
    // Instructions of guest time to this vCPU's next tick (while halted, nothing retires).
    uint64_t until_next_tick() const { return clock_.until_next_tick(); }
    // Ends a halt after `idle` instructions of guest time; `tick`: its timer tick is due.
    void wake(uint64_t idle, bool tick);
    // Ends this vCPU's turn before its next block.
    void end_quantum() { clock_.end_quantum(); }
    // Sample points of the VM (BlockClock::set_sample_base), before and after each turn.
    void set_sample_base(uint64_t others, uint64_t next) { clock_.set_sample_base(others, next); }
    uint64_t next_sample_point() const { return clock_.next_sample_point(); }
    // From the first AP on, the timer vector is in service until its EOI (abi.h).
    void track_timer() { timer_tracked_ = true; }
    // This vCPU's counters (the machine's are the sum over its vCPUs).
    GuestCounters guest_counters() const { return counters(); }
    // A stop the machine decides (an error another vCPU caused, the budget).
    void stop(StopKind kind, const std::string& message) { run_stop_.stop(kind, message); }
    // The guest instruction being executed, for exit traces (not the hot path): inside a block
    // hook the block's address (Unicorn has not synced RIP there), elsewhere RIP, which the
    // memory hook keeps exact during a data access.
    uint64_t current_rip() const {
        uint64_t f = coalescer_.fetch_rip();
        return f ? f : reg(UC_X86_REG_RIP);
    }
    // Guest instructions retired before the one current_rip() names (exact inside its block).
    uint64_t current_instructions() const { return clock_.instructions_before(current_rip()); }

    // Hook entry points (static trampolines call these). The hook runs once per guest block:
    // the cost of exact instruction counting. The common case in a hot loop, the block that just
    // ran running again well before any tick or budget, needs no lookup, no stack frame, one
    // compare against a precomputed end and three stores; everything else is the general path,
    // out of line. The user flag needs no update there: on_new_block set it for this very block,
    // and what else changes it (X86Events::deliver) also sends execution to another block.
    void on_block(uint64_t addr, uint32_t size) {
        if (!clock_.repeats_last(addr, size)) [[unlikely]]
            return on_new_block(addr, size);
        if (!clock_.before_fast_end() || stop_requested()) [[unlikely]]
            return on_new_block(addr, size);
        run_block(addr, size, clock_.last_instructions());
    }
    void on_sensitive(const SensitiveInsn& insn);
    void on_bad_access(int type, uint64_t addr, int size);
    void on_interrupt(uint32_t intno) { x86_.on_interrupt(intno); }
    void on_syscall() { x86_.on_syscall(clock_.instructions()); }
    void on_out(uint32_t port, uint32_t value) { io_.on_out(port, value); }
    void on_boundary(std::function<void(const Boundary&)> listener) {
        boundary_ = std::move(listener);
    }
    // The instruction after a CPUID: the personality's answer replaces the CPU model's.
    void on_cpuid_done(uint64_t addr);

private:
    // The block runs: the clock counts it, and the observers see its fetch.
    void run_block(uint64_t addr, uint32_t size, uint32_t n) {
        clock_.retire(n);
        if (coalescer_.has_observers()) coalescer_.block(addr, size, n);
    }
    [[gnu::noinline]] void on_new_block(uint64_t addr, uint32_t size);
    // After a run stopped with nothing asking: the guest executed hlt. Whether a tick is due
    // now (idle time skipped to it); false also when the run stops.
    bool idle_at_hlt(uint64_t rip);
    void deliver_timer();
    // Delivers the highest deliverable interrupt (timer or APIC vector) when IF = 1, and tells
    // the clock what waits for IF or for an EOI.
    void deliver_interrupts();
    GuestCounters counters() const;
    // A region marker or sample point: the observers catch up, then the listener hears it.
    void report_boundary(Boundary::Kind kind, const std::string& region, uint64_t instructions);
    void fill_diagnostics(RunResult& r, uint64_t rip) const;
    uint64_t reg(int id) const { return read_reg(uc_.uc, id); }
    void set_reg(int id, uint64_t v) { write_reg(uc_.uc, id, v); }

    // The Unicorn instance and its hooks, closed last: the parts free what they hold in it first.
    struct Unicorn {
        uc_engine* uc = nullptr;
        std::vector<uc_hook> hooks;
        Unicorn() = default;
        Unicorn(const Unicorn&) = delete;
        Unicorn& operator=(const Unicorn&) = delete;
        ~Unicorn();
    };
    Unicorn uc_;

    GuestMemory& mem_;
    const ElfImage& kernel_;
    const MachineConfig& config_;
    const unsigned index_;
    const bool smp_; // several vCPUs: a halt returns to the machine
    bool halted_ = false, parked_ = false;
    uint64_t parked_rip_ = 0;
    bool timer_tracked_ = false;
    Lapic lapic_;

    RunStop run_stop_;
    // The hot parts first: the block hook reads the clock and the coalescer on every block.
    BlockClock clock_;
    LoopCoalescer coalescer_;
    std::vector<uint8_t> code_frame_; // 1 for frames holding guest code (never written)
    DataPath data_;
    GuestCounters counters_; // the event counters; the clock and the data path keep their own
    EventLog events_;        // recent guest events, for the report when the run stops on an error
    X86Events x86_;
    PortIo io_;

    std::deque<SensitiveInsn> sensitive_; // stable addresses: hook user data points into it
    std::deque<SensitiveHookData> hook_data_;
    std::function<void(const Boundary&)> boundary_;
    // A CPUID whose leaf the personality answers (engine/core/hypervisor.h): its leaf and the
    // address of the instruction after it, where on_cpuid_done writes the answer.
    uint32_t cpuid_leaf_ = 0;
    uint64_t cpuid_done_at_ = 0;
};

} // namespace vmmu
