// The run loop: start Unicorn, find out why it stopped, deliver what is due, go again.
#include "engine/core/vcpu.h"
#include "engine/core/x86.h"
#include "vmmu/abi.h"

#include <fmt/format.h>

namespace vmmu {
namespace {

std::string describe_uc_error(uc_err err, uint64_t window) {
    switch (err) {
    case UC_ERR_READ_PROT:
    case UC_ERR_WRITE_PROT:
        return fmt::format("{}: a data access below {:#x} touched guest code memory; all guest "
                           "data must live at addresses in the MMIO window (VA >= G)",
                           uc_strerror(err), window);
    case UC_ERR_FETCH_PROT:
    case UC_ERR_FETCH_UNMAPPED:
        return fmt::format("{}: instruction fetch outside guest code memory (code must be "
                           "identity-mapped below {:#x})",
                           uc_strerror(err), window);
    default:
        return uc_strerror(err);
    }
}
} // namespace

void Vcpu::fill_diagnostics(RunResult& r, uint64_t rip) const {
    r.rip = rip;
    if (rip < mem_.size() && mem_.size() - rip >= 16)
        r.instruction = disassemble_one(mem_.host_ptr(GuestPhys(rip)), 16, rip);
    r.symbol = kernel_.symbolize(rip);
}

GuestCounters Vcpu::counters() const {
    GuestCounters c = counters_;
    clock_.add_counters(c);
    data_.add_counters(c);
    return c;
}

bool Vcpu::idle_at_hlt(uint64_t rip) {
    bool after_hlt =
        rip >= 1 && rip - 1 < mem_.size() && *mem_.host_ptr(GuestPhys(rip - 1)) == x86::kOpHlt;
    if (!after_hlt) {
        run_stop_.stop(StopKind::GuestFault, "emulation stopped for no known reason");
        return false;
    }
    if (!(reg(UC_X86_REG_EFLAGS) & x86::kRflagsIf) && !clock_.timer_pending()) {
        if (smp_) { // an AP parked for good; the machine stops when every vCPU is
            halted_ = parked_ = true;
            parked_rip_ = rip - 1;
            return false;
        }
        run_stop_.stop(StopKind::GuestFault,
                       "hlt with interrupts disabled: nothing can ever wake the guest");
        run_stop_.set_rip(rip - 1);
        return false;
    }
    if (smp_) {
        // Several vCPUs: the others run while this one waits; the machine wakes it.
        bool timer = clock_.timer_pending() && lapic_.unmasked(VMMU_VEC_TIMER);
        if (!timer && !lapic_.deliverable()) halted_ = true;
        return false;
    }
    return !clock_.timer_pending() && clock_.idle_to_next_tick();
}

void Vcpu::stop_parked() {
    run_stop_.stop(StopKind::GuestFault, "hlt with interrupts disabled: nothing can ever wake the "
                                         "guest (every vCPU is halted so)");
    run_stop_.set_rip(parked_rip_);
}

void Vcpu::wake(uint64_t idle, bool tick) {
    halted_ = false;
    if (!tick) {
        clock_.idle_for(idle);
        return;
    }
    clock_.idle_to_next_tick();
    clock_.raise_tick();
}

void Vcpu::deliver_interrupts() {
    if (reg(UC_X86_REG_EFLAGS) & x86::kRflagsIf) {
        auto vector = lapic_.deliverable();
        bool timer = clock_.timer_pending() && lapic_.unmasked(VMMU_VEC_TIMER);
        if (vector && (!timer || *vector > VMMU_VEC_TIMER)) {
            lapic_.accept(*vector, true);
            ++counters_.ipis_received;
            uint64_t at = reg(UC_X86_REG_RIP);
            events_.record("IPI (a=vector)", clock_.instructions(), at, *vector);
            coalescer_.broadcast([&](GuestObserver& b) { b.on_ipi_receive(at, *vector); });
            x86_.deliver(*vector, std::nullopt);
        } else if (timer) {
            deliver_timer();
        }
    }
    clock_.set_timer_masked(clock_.timer_pending() && !lapic_.unmasked(VMMU_VEC_TIMER));
    clock_.set_irq_waiting(lapic_.deliverable().has_value());
}

void Vcpu::deliver_timer() {
    clock_.take_timer();
    if (timer_tracked_) lapic_.accept(VMMU_VEC_TIMER, true);
    uint64_t at = reg(UC_X86_REG_RIP);
    events_.record("timer interrupt", clock_.instructions(), at);
    coalescer_.broadcast([&](GuestObserver& b) { b.on_timer(at); });
    x86_.deliver(VMMU_VEC_TIMER, std::nullopt);
}

RunResult Vcpu::run(uint64_t quantum) {
    RunResult r;
    clock_.start(quantum, smp_ ? 0 : config_.max_instructions); // the machine's budget: all vCPUs
    if (smp_ && !run_stop_.stopped()) deliver_interrupts();     // IPIs sent while it waited
    while (!run_stop_.stopped()) {
        uint64_t insns_before = clock_.instructions();
        clock_.prepare();
        coalescer_.refresh();
        uc_err err = uc_emu_start(uc_.uc, reg(UC_X86_REG_RIP), 0, 0, 0);
        coalescer_.settle(); // between runs the observers have seen everything that ran
        if (auto at = clock_.take_resume()) set_reg(UC_X86_REG_RIP, *at);
        uint64_t rip = reg(UC_X86_REG_RIP);
        clock_.after_run(rip, insns_before);
        if (err != UC_ERR_OK && !run_stop_.stopped()) {
            run_stop_.stop(StopKind::GuestFault, describe_uc_error(err, data_.window()));
            run_stop_.set_rip(rip);
        }
        if (run_stop_.stopped()) break;
        if (x86_.exception_pending()) {
            x86_.handle_exception(clock_.instructions());
            continue;
        }
        if (clock_.take_budget_hit()) {
            if (clock_.budget_exhausted()) {
                run_stop_.stop(StopKind::Budget, fmt::format("instruction budget of {} exhausted",
                                                             config_.max_instructions));
                break;
            }
            r.stop = StopKind::Quantum;
            r.rip = reg(UC_X86_REG_RIP);
            r.guest = counters();
            return r;
        }
        bool tick_due = false;
        switch (clock_.take_cause()) {
        case BlockClock::Cause::Split: // run up to the instruction the tick falls before
            continue;
        case BlockClock::Cause::Tick:
            tick_due = true;
            break;
        case BlockClock::Cause::InterruptWindow:
            break;
        case BlockClock::Cause::None:
            // Nothing asked to stop, so the guest executed hlt (docs/UNICORN-2.0.1.md, fact 13).
            tick_due = idle_at_hlt(rip);
            break;
        }
        if (run_stop_.stopped()) break;
        if (halted_) { // several vCPUs: the machine runs the others
            r.stop = StopKind::Quantum;
            r.rip = rip;
            r.guest = counters();
            return r;
        }
        if (tick_due) clock_.raise_tick();
        deliver_interrupts();
    }
    const StopRequest& s = run_stop_.request();
    r.stop = s.kind;
    r.exit_status = s.status;
    r.message = s.message;
    fill_diagnostics(r, s.rip.value_or(reg(UC_X86_REG_RIP)));
    r.recent_events = events_.lines();
    r.guest = counters();
    r.console = io_.console();
    r.program_output = io_.program_output();
    r.reported = io_.reported();
    return r;
}

} // namespace vmmu
