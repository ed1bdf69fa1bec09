// Guest time: exact instruction counts per executed block, and what is due by instruction count.
//
// Unicorn 2.0.1 has no instruction counter (docs/UNICORN-2.0.1.md, facts 15 and 17), so time is
// counted per block in the block hook: the instructions of each distinct block are counted once
// with Capstone and cached (a direct-mapped slot array in front of a map). From that count the
// clock derives everything the run loop schedules: the instruction budget and a multi-VM
// quantum (stop before the block that would pass them), timer ticks (a tick that falls inside a
// block stops the run before it, and a code hook on the exact instruction splits it), the
// interrupt window while a tick is pending, and idle time skipped to the next tick at hlt. The
// block hook's common case (the same block again, well before anything is due) is inline and
// needs one compare against fast_end_, precomputed before each uc_emu_start (prepare()).
#pragma once

#include "engine/core/guest_memory.h"
#include "engine/core/machine.h"
#include "engine/core/run_stop.h"

#include <unicorn/unicorn.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <unordered_map>
#include <vector>

namespace vmmu {

class BlockClock {
public:
    BlockClock(const GuestMemory& mem, uint64_t timer_period, RunStop& stop);
    // Sample points: every `period` instructions (0: none) and at `at` (0: none). Each is
    // reported to `reached` with the exact instruction count, before the instruction there runs:
    // from the block hook when it falls on a block's first instruction, else from a code hook
    // armed at its instruction (the block is run again with the hook compiled in, as for a tick).
    void set_samples(uint64_t period, uint64_t at, std::function<void(uint64_t)> reached);
    // Several vCPUs: sample points count the VM's instructions, of which the other vCPUs retired
    // `others` (constant during this vCPU's turn); `next` is the VM's next point no vCPU has
    // reached (UINT64_MAX: none). Before each turn; next_sample_point() hands it on after it.
    void set_sample_base(uint64_t others, uint64_t next);
    uint64_t next_sample_point() const {
        return next_sample_ == UINT64_MAX ? UINT64_MAX : next_sample_ + sample_base_;
    }
    BlockClock(const BlockClock&) = delete;
    BlockClock& operator=(const BlockClock&) = delete;
    void bind(uc_engine* uc) { uc_ = uc; }

    // The block hook's common case: the block that ran last runs again, and its instructions
    // reach neither a tick, nor the budget, nor the end of the quantum.
    bool repeats_last(uint64_t addr, uint32_t size) const {
        return addr == last_block_ && size == last_block_size_;
    }
    bool before_fast_end() const { return instructions_ + last_block_insns_ < fast_end_; }
    uint32_t last_instructions() const { return last_block_insns_; }
    // The block runs: its instructions are counted in full (after_run corrects a run that
    // stops inside it).
    void retire(uint32_t n) {
        instructions_ += n;
        ++blocks_;
        last_block_valid_ = true;
    }
    // The general path: the block's instruction count, whether it may run, and (if it does)
    // remembering it as the last block.
    uint32_t block_instructions(uint64_t addr, uint32_t size) {
        const BlockCount& c = block_cache_[block_slot(addr)];
        return c.addr == addr && c.size == size ? c.instructions : count_block(addr, size);
    }
    [[gnu::noinline]] bool block_may_run(uint64_t addr, uint32_t n);
    void enter_block(uint64_t addr, uint32_t size, uint32_t n) {
        last_block_ = addr;
        last_block_size_ = size;
        last_block_insns_ = n;
    }

    // The run loop. start(): a run of at most `quantum` instructions (0: none) under `budget`
    // (0: none). prepare(): before each uc_emu_start. after_run(): once it returned, with RIP
    // exact (take_resume() first) and the count before it.
    void start(uint64_t quantum, uint64_t budget);
    void prepare();
    std::optional<uint64_t> take_resume();
    void after_run(uint64_t rip, uint64_t instructions_before);
    // The budget or the quantum stopped the run (one flag: block_may_run checks them at once).
    bool take_budget_hit();
    bool budget_exhausted() const { return instructions_ >= budget_; }
    // Why the clock stopped the run, if it did. Split: a tick falls inside the next block, and
    // a code hook was armed at its exact instruction; run again to reach it.
    enum class Cause { None, Split, Tick, InterruptWindow };
    Cause take_cause();
    // At hlt with no tick pending: skip idle time to the next tick. False (and the run stops)
    // when the guest has idled too long to ever wake.
    bool idle_to_next_tick();
    // A tick is due: it becomes the pending timer interrupt.
    void raise_tick();
    bool timer_pending() const { return timer_pending_; }
    // Local-APIC interrupts (several vCPUs, engine/core/lapic.h): the pending timer waits for an
    // EOI rather than for IF (masked), or another vector waits only for IF = 1 (irq_waiting);
    // the block hook watches for IF only when something waits for it.
    void set_timer_masked(bool masked) { timer_masked_ = masked; }
    void set_irq_waiting(bool waiting) { irq_waiting_ = waiting; }
    bool waits_for_if() const { return (timer_pending_ && !timer_masked_) || irq_waiting_; }
    // Something changed what may be delivered (an EOI, an IPI to the running vCPU): stop before
    // the next block so the run loop looks again (Cause::InterruptWindow).
    void request_interrupt_check() {
        interrupt_check_ = true;
        fast_end_ = 0;
    }
    // The run's quantum ends before the next block (a vCPU started another: turns begin).
    void end_quantum() {
        stop_at_ = std::min(stop_at_, instructions_);
        fast_end_ = 0;
    }
    // A halted vCPU (several vCPUs): guest time to its next tick, and idle time it waited.
    uint64_t until_next_tick() const { return next_tick_ > time() ? next_tick_ - time() : 0; }
    void idle_for(uint64_t n) { idle_ += n; }
    void take_timer() {
        timer_pending_ = false;
        ++timer_interrupts_;
    }
    void on_split_point();
    void on_sample_point(uint64_t address);
    // Instructions retired before the one at `rip` (exact inside the block running now).
    uint64_t instructions_before(uint64_t rip) const;

    uint64_t instructions() const { return instructions_; }
    // The last block whose hook ran, while its instructions are counted as retired.
    bool in_last_block(uint64_t rip) const {
        return last_block_valid_ && rip >= last_block_ && rip < last_block_ + last_block_size_;
    }
    uint64_t last_block() const { return last_block_; }
    uint32_t last_block_size() const { return last_block_size_; }
    bool last_block_valid() const { return last_block_valid_; }
    // The clock's counters: instructions, blocks, idle ticks, timer interrupts.
    void add_counters(GuestCounters& c) const;

private:
    static constexpr size_t kBlockSlots = size_t{1} << 14;
    struct BlockCount {
        uint64_t addr = UINT64_MAX;
        uint32_t size = 0, instructions = 0;
    };
    static size_t block_slot(uint64_t addr) { return (addr ^ (addr >> 14)) & (kBlockSlots - 1); }
    [[gnu::noinline]] uint32_t count_block(uint64_t addr, uint32_t size);
    // Time: instructions retired plus idle time skipped at hlt; the timer runs on time.
    // (Modular arithmetic: skipping to a tick sets idle_ so that time() is that tick.)
    uint64_t time() const { return instructions_ + idle_; }
    void stop_before_block(uint64_t addr);
    void arm_split(uint64_t block, uint32_t k);
    void disarm_split();
    uint64_t next_sample_after(uint64_t t) const;
    void advance_sample();
    void arm_sample();
    void disarm_sample();
    void rearm_sample();

    const GuestMemory& mem_;
    const uint64_t timer_period_;
    RunStop& stop_;
    uc_engine* uc_ = nullptr;

    // Hot: read by the block hook on every block.
    uint64_t last_block_ = 0;
    uint32_t last_block_size_ = 0, last_block_insns_ = 0;
    uint64_t instructions_ = 0, blocks_ = 0;
    // The block hook runs its full checks (block_may_run) only when the instruction count after
    // the block would reach this end: the earlier of the next tick (when one can fall inside a
    // block; 0 while a tick is pending, so the hook watches for interrupts being enabled) and
    // the budget or quantum.
    uint64_t fast_end_ = 0;
    bool last_block_valid_ = false;

    std::vector<BlockCount> block_cache_;
    std::unordered_map<uint64_t, BlockCount> block_map_;

    uint64_t idle_ = 0, next_tick_ = 0;
    uint64_t idle_ticks_ = 0, timer_interrupts_ = 0;
    uint64_t idle_run_ = 0; // ticks idled in a row in this run(), with no instruction between
    bool timer_pending_ = false;
    bool timer_masked_ = false, irq_waiting_ = false, interrupt_check_ = false;
    uint64_t budget_ = UINT64_MAX;
    uint64_t stop_at_ = UINT64_MAX;     // min(budget, end of quantum), in retired instructions
    std::optional<uint64_t> resume_at_; // RIP to resume at after a stop before a block

    // Stop causes raised by the block hook or the split hook during one uc_emu_start.
    bool tick_split_requested_ = false;
    uint64_t split_block_ = 0;
    uint32_t split_k_ = 0;
    uc_hook split_hook_ = 0;
    bool split_armed_ = false;
    bool split_hit_ = false;
    bool irq_window_ = false;
    bool budget_hit_ = false;

    // Sample points: the next one (UINT64_MAX: none), and the code hooks that reach those inside
    // a block (sample_ks_: their instructions' indices in sample_block_, in one pass).
    uint64_t sample_period_ = 0, sample_at_ = 0;
    uint64_t sample_base_ = 0; // instructions the other vCPUs retired (set_sample_base)
    uint64_t next_sample_ = UINT64_MAX;
    uint64_t fast_end_no_sample_ = 0; // fast_end_ before the next sample point is folded in
    std::function<void(uint64_t)> sample_reached_;
    bool sample_split_requested_ = false;
    bool sample_armed_ = false;
    uint64_t sample_block_ = 0, sample_addr_ = 0;
    std::vector<uint32_t> sample_ks_;
    // Where the armed hooks sit (the requested points above may have moved on since).
    uint64_t armed_block_ = 0;
    std::vector<uint32_t> armed_ks_;
    std::vector<uint64_t> armed_addrs_;
    std::vector<uc_hook> sample_hooks_;
};

} // namespace vmmu
