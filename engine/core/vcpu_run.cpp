// The run loop: start Unicorn, find out why it stopped, deliver what is due, go again.
#include "engine/core/vcpu.h"
#include "engine/core/x86.h"
#include "vmmu/abi.h"

#include <fmt/format.h>

#include <chrono>

namespace vmmu {
namespace {
using x86::kRflagsIf;
// A guest that sleeps this many timer periods in a row with nothing to run never wakes up.
constexpr uint64_t kMaxIdleTicks = 10'000'000;

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

RunResult Vcpu::run(uint64_t quantum) {
    RunResult r;
    uint64_t idle_run = 0;
    uint64_t budget = config_.max_instructions ? config_.max_instructions : UINT64_MAX;
    uint64_t quantum_end = quantum ? counters_.instructions + quantum : UINT64_MAX;
    stop_at_ = std::min(budget, quantum_end);
    while (!stop_) {
        bool tick_due = false;
        uint64_t insns_before = counters_.instructions;
        prepare_block_hook();
        uc_err err = uc_emu_start(uc_, reg(UC_X86_REG_RIP), 0, 0, 0);
        settle_blocks(); // between runs the backends have seen everything that ran
        if (resume_at_) {
            set_reg(UC_X86_REG_RIP, *resume_at_);
            resume_at_.reset();
        }
        uint64_t rip = reg(UC_X86_REG_RIP);
        account_stop(rip);
        if (split_armed_) disarm_split();
        if (counters_.instructions != insns_before) idle_run = 0;
        if (err != UC_ERR_OK && !stop_) {
            stop(StopKind::GuestFault, describe_uc_error(err, window_));
            stop_->rip = rip;
        }
        if (stop_) break;
        if (pending_exception_) {
            handle_exception();
            continue;
        }
        if (budget_hit_) {
            budget_hit_ = false;
            if (counters_.instructions >= budget) {
                stop(StopKind::Budget,
                     fmt::format("instruction budget of {} exhausted", config_.max_instructions));
                break;
            }
            r.stop = StopKind::Quantum;
            r.rip = reg(UC_X86_REG_RIP);
            r.guest = counters_;
            return r;
        }
        if (tick_split_requested_) {
            tick_split_requested_ = false;
            if (split_k_ > 0) {
                arm_split(split_block_, split_k_);
                continue;
            }
            tick_due = true;
        } else if (split_hit_) {
            split_hit_ = false;
            tick_due = true;
        } else if (irq_window_) {
            irq_window_ = false;
        } else {
            // Nothing asked to stop, so the guest executed hlt (FACTS, fact 13).
            bool after_hlt =
                rip >= 1 && rip - 1 < mem_.size() && *mem_.host_ptr(GuestPhys(rip - 1)) == 0xf4;
            if (!after_hlt) {
                stop(StopKind::GuestFault, "emulation stopped for no known reason");
                break;
            }
            if (!(reg(UC_X86_REG_EFLAGS) & kRflagsIf) && !timer_pending_) {
                stop(StopKind::GuestFault,
                     "hlt with interrupts disabled: nothing can ever wake the guest");
                stop_->rip = rip - 1;
                break;
            }
            if (!timer_pending_) {
                ++counters_.idle_ticks;
                if (++idle_run > kMaxIdleTicks) {
                    stop(StopKind::GuestFault, fmt::format("the guest stayed idle for {} timer "
                                                           "periods: every process is blocked",
                                                           kMaxIdleTicks));
                    break;
                }
                idle_ = next_tick_ - counters_.instructions; // time() = next_tick_
                tick_due = true;
            }
        }
        if (tick_due) {
            // Ticks missed while interrupts were off coalesce into the one pending interrupt,
            // as on a real interrupt line; the next tick stays on the period grid.
            do {
                next_tick_ += config_.timer_period;
            } while (next_tick_ <= time());
            timer_pending_ = true;
        }
        if (timer_pending_ && (reg(UC_X86_REG_EFLAGS) & kRflagsIf)) {
            timer_pending_ = false;
            ++counters_.timer_interrupts;
            uint64_t at = reg(UC_X86_REG_RIP);
            events_.record("timer interrupt", counters_.instructions, at);
            broadcast([&](GuestObserver& b) { b.on_timer(at); });
            deliver(VMMU_VEC_TIMER, std::nullopt);
        }
    }
    const StopRequest& s = *stop_;
    r.stop = s.kind;
    r.exit_status = s.status;
    r.message = s.message;
    fill_diagnostics(r, s.rip.value_or(reg(UC_X86_REG_RIP)));
    r.recent_events = events_.lines();
    r.guest = counters_;
    r.console = console_;
    r.reported = reported_;
    return r;
}

} // namespace vmmu
