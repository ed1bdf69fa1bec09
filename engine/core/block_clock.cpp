#include "engine/core/block_clock.h"

#include "engine/core/sensitive.h"
#include "engine/core/stop_request.h"
#include "engine/core/uc_regs.h"
#include "engine/core/x86.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

namespace vmmu {
namespace {
// A guest that sleeps this many timer periods in a row with nothing to run never wakes up.
constexpr uint64_t kMaxIdleTicks = 10'000'000;
// The longest x86 instruction: enough bytes to decode any one.
constexpr uint64_t kMaxInsnBytes = 16;

void split_hook(uc_engine*, uint64_t, uint32_t, void* user) {
    static_cast<BlockClock*>(user)->on_split_point();
}
void sample_hook(uc_engine*, uint64_t address, uint32_t, void* user) {
    static_cast<BlockClock*>(user)->on_sample_point(address);
}
} // namespace

BlockClock::BlockClock(const GuestMemory& mem, uint64_t timer_period, RunStop& stop)
    : mem_(mem), timer_period_(timer_period), stop_(stop), block_cache_(kBlockSlots),
      next_tick_(timer_period) {}

// A block not in the direct-mapped slot: the map, or count it (once per distinct block).
uint32_t BlockClock::count_block(uint64_t addr, uint32_t size) {
    auto it = block_map_.find(addr);
    if (it == block_map_.end() || it->second.size != size) {
        uint32_t n = addr + size <= mem_.size()
                         ? count_instructions(mem_.host_ptr(GuestPhys(addr)), size, addr)
                         : 0;
        it = block_map_.insert_or_assign(addr, BlockCount{addr, size, n}).first;
    }
    block_cache_[block_slot(addr)] = it->second;
    return it->second.instructions;
}

void BlockClock::start(uint64_t quantum, uint64_t budget) {
    budget_ = budget ? budget : UINT64_MAX;
    uint64_t quantum_end = quantum ? instructions_ + quantum : UINT64_MAX;
    stop_at_ = std::min(budget_, quantum_end);
    idle_run_ = 0;
}

// Before each uc_emu_start: the end of the range the block hook may count through without its
// full checks. Nothing it depends on changes while Unicorn runs (ticks, splits and the budget
// change only in the run loop), and time() moves with the instruction count in between.
void BlockClock::prepare() {
    uint64_t tick_end = UINT64_MAX; // no tick can fall inside a block
    if (waits_for_if() || interrupt_check_)
        tick_end = 0; // the hook must watch for interrupts being enabled
    else if (!split_armed_ && timer_period_)
        // time() + n <= next_tick_, in instructions: instructions + n < next_tick_ - idle_ + 1.
        tick_end = next_tick_ < idle_ ? 0 : std::min(next_tick_ - idle_, UINT64_MAX - 1) + 1;
    fast_end_no_sample_ = std::min(tick_end, stop_at_);
    // A block that reaches the sample point (instructions + n > next_sample_) takes the checks.
    fast_end_ =
        std::min(fast_end_no_sample_, next_sample_ == UINT64_MAX ? UINT64_MAX : next_sample_ + 1);
}

void BlockClock::set_samples(uint64_t period, uint64_t at, std::function<void(uint64_t)> reached) {
    sample_period_ = period;
    sample_at_ = at;
    sample_reached_ = std::move(reached);
    next_sample_ = next_sample_after(instructions_);
}

void BlockClock::set_sample_base(uint64_t others, uint64_t next) {
    sample_base_ = others;
    next_sample_ = next == UINT64_MAX ? UINT64_MAX : next - others;
}

// The first sample point after this vCPU's instruction count t (UINT64_MAX: none); the points
// themselves count the VM's instructions (sample_base_: the other vCPUs').
uint64_t BlockClock::next_sample_after(uint64_t t) const {
    uint64_t vm = t + sample_base_, next = UINT64_MAX;
    if (sample_period_) next = (vm / sample_period_ + 1) * sample_period_;
    if (sample_at_ > vm) next = std::min(next, sample_at_);
    return next == UINT64_MAX ? UINT64_MAX : next - sample_base_;
}

// The sample point is reached; the fast path's end moves to the next one (the block hook may be
// inside a uc_emu_start: prepare() does not run again before the next block).
void BlockClock::advance_sample() {
    uint64_t at = next_sample_;
    next_sample_ = next_sample_after(at);
    fast_end_ =
        std::min(fast_end_no_sample_, next_sample_ == UINT64_MAX ? UINT64_MAX : next_sample_ + 1);
    if (sample_reached_) sample_reached_(at);
}

// The checks before a block runs, in order; false when the run stops before the block.
bool BlockClock::block_may_run(uint64_t addr, uint32_t n) {
    // A sample point at this block's first instruction: everything before it has been seen.
    while (next_sample_ == instructions_) advance_sample();
    // A timer tick or a sample point falls inside this block: stop before it runs, arm a code
    // hook at each one's instruction, and run it again (both at once, so neither rerun undoes
    // the other's hook).
    uint64_t now = time();
    bool tick_inside = !timer_pending_ && timer_period_ && now + n > next_tick_;
    bool sample_inside = next_sample_ > instructions_ && next_sample_ - instructions_ < n;
    // The armed hooks serve this block only if they sit at every point's own instruction: the
    // next point may fall in the same block at another index (an interval shorter than a loop
    // pass), and several points may fall in one pass (two points a few instructions apart).
    std::vector<uint32_t> points;
    if (sample_inside)
        for (uint64_t p = next_sample_; p != UINT64_MAX && p - instructions_ < n;
             p = next_sample_after(p))
            points.push_back(static_cast<uint32_t>(p - instructions_));
    bool sample_hooked = sample_armed_ && armed_block_ == addr && points == armed_ks_;
    if ((tick_inside && !split_armed_) || (sample_inside && !sample_hooked)) {
        if (tick_inside && !split_armed_) {
            tick_split_requested_ = true;
            split_block_ = addr;
            split_k_ = next_tick_ > now ? static_cast<uint32_t>(next_tick_ - now) : 0;
        }
        if (sample_inside && !sample_hooked) {
            sample_split_requested_ = true;
            sample_block_ = addr;
            sample_ks_ = points;
        }
        stop_before_block(addr);
        return false;
    }
    if (interrupt_check_ ||
        (waits_for_if() && (read_reg(uc_, UC_X86_REG_EFLAGS) & x86::kRflagsIf))) {
        interrupt_check_ = false;
        irq_window_ = true;
        stop_before_block(addr);
        return false;
    }
    // A signal handler asked to stop (stop_request.h): stop before this block runs.
    if (stop_requested()) {
        stop_.stop(StopKind::Interrupted, "interrupted: a signal asked the run to stop");
        stop_before_block(addr);
        return false;
    }
    // One compare covers both the instruction budget and the end of a scheduling quantum.
    if (instructions_ >= stop_at_) {
        budget_hit_ = true;
        stop_before_block(addr);
        return false;
    }
    return true;
}

// A stop requested in a block hook takes effect before the block runs, but Unicorn then leaves
// RIP at the last point it synced inside the previous block (it skips the PC restore when a
// stop is pending), so the block's address is remembered and written back after the run.
void BlockClock::stop_before_block(uint64_t addr) {
    resume_at_ = addr;
    last_block_valid_ = false;
    uc_emu_stop(uc_);
}

std::optional<uint64_t> BlockClock::take_resume() { return std::exchange(resume_at_, {}); }

// The run stopped at `rip`: a stop inside the last block takes back the instructions after it.
void BlockClock::after_run(uint64_t rip, uint64_t instructions_before) {
    if (in_last_block(rip)) {
        uint32_t done = count_instructions(mem_.host_ptr(GuestPhys(last_block_)), rip - last_block_,
                                           last_block_);
        instructions_ -= last_block_insns_ - done;
    }
    last_block_valid_ = false;
    // A stop before a block to arm its hooks keeps those already armed for it.
    bool rearming = tick_split_requested_ || sample_split_requested_;
    if (split_armed_ && !rearming) disarm_split();
    if (sample_armed_ && !rearming) disarm_sample();
    if (instructions_ != instructions_before) idle_run_ = 0;
}

bool BlockClock::take_budget_hit() { return std::exchange(budget_hit_, false); }

BlockClock::Cause BlockClock::take_cause() {
    bool sample = std::exchange(sample_split_requested_, false);
    if (tick_split_requested_) {
        tick_split_requested_ = false;
        if (split_k_ == 0) { // the tick falls right before the block
            if (sample_armed_) disarm_sample();
            return Cause::Tick;
        }
        arm_split(split_block_, split_k_);
        if (sample) rearm_sample();
        return Cause::Split;
    }
    if (sample) {
        rearm_sample();
        return Cause::Split;
    }
    if (std::exchange(split_hit_, false)) return Cause::Tick;
    if (std::exchange(irq_window_, false)) return Cause::InterruptWindow;
    return Cause::None;
}

bool BlockClock::idle_to_next_tick() {
    ++idle_ticks_;
    if (++idle_run_ > kMaxIdleTicks) {
        stop_.stop(StopKind::GuestFault,
                   fmt::format("the guest stayed idle for {} timer periods: every process is "
                               "blocked",
                               kMaxIdleTicks));
        return false;
    }
    idle_ = next_tick_ - instructions_; // time() = next_tick_
    return true;
}

// Ticks missed while interrupts were off coalesce into the one pending interrupt, as on a real
// interrupt line; the next tick stays on the period grid.
void BlockClock::raise_tick() {
    do {
        next_tick_ += timer_period_;
    } while (next_tick_ <= time());
    timer_pending_ = true;
}

void BlockClock::arm_split(uint64_t block, uint32_t k) {
    // Address of the k-th instruction of the block: the tick falls just before it.
    uint64_t addr = block;
    for (uint32_t i = 0; i < k; ++i)
        addr += instruction_length(mem_.host_ptr(GuestPhys(addr)), kMaxInsnBytes, addr);
    check_uc(uc_hook_add(uc_, &split_hook_, UC_HOOK_CODE, reinterpret_cast<void*>(split_hook), this,
                         addr, addr),
             "split hook");
    // The block was translated without the hook: drop it so the hook is compiled in
    // (docs/UNICORN-2.0.1.md, fact 14).
    uc_ctl_remove_cache(uc_, block, addr + 1);
    split_block_ = block;
    split_k_ = static_cast<uint32_t>(addr - block); // reused as the byte offset for disarm
    split_armed_ = true;
}

void BlockClock::disarm_split() {
    uc_hook_del(uc_, split_hook_);
    uc_ctl_remove_cache(uc_, split_block_, split_block_ + split_k_ + 1);
    split_armed_ = false;
}

// One code hook at each point's instruction in sample_block_.
void BlockClock::arm_sample() {
    uint64_t addr = sample_block_;
    uint32_t i = 0;
    armed_addrs_.clear();
    for (uint32_t k : sample_ks_) {
        for (; i < k; ++i)
            addr += instruction_length(mem_.host_ptr(GuestPhys(addr)), kMaxInsnBytes, addr);
        uc_hook h = 0;
        check_uc(uc_hook_add(uc_, &h, UC_HOOK_CODE, reinterpret_cast<void*>(sample_hook), this,
                             addr, addr),
                 "sample hook");
        sample_hooks_.push_back(h);
        armed_addrs_.push_back(addr);
    }
    uc_ctl_remove_cache(uc_, sample_block_, addr + 1); // docs/UNICORN-2.0.1.md, fact 14
    sample_addr_ = addr;
    armed_block_ = sample_block_;
    armed_ks_ = sample_ks_;
    sample_armed_ = true;
}

void BlockClock::disarm_sample() {
    for (uc_hook h : sample_hooks_) uc_hook_del(uc_, h);
    sample_hooks_.clear();
    uc_ctl_remove_cache(uc_, armed_block_, sample_addr_ + 1);
    sample_armed_ = false;
}

// A hook armed for an earlier point (another block, or another index in this one) moves to the
// point just requested.
void BlockClock::rearm_sample() {
    if (sample_armed_) disarm_sample();
    arm_sample();
}

// A code hook runs before the instruction at `address`; the samples there are due only when
// that instruction is the one a point falls before (the block that ran last, at its index).
void BlockClock::on_sample_point(uint64_t address) {
    if (!last_block_valid_ || last_block_ != armed_block_) return;
    for (size_t i = 0; i < armed_addrs_.size(); ++i)
        if (armed_addrs_[i] == address)
            while (instructions_ - last_block_insns_ + armed_ks_[i] == next_sample_)
                advance_sample();
}

uint64_t BlockClock::instructions_before(uint64_t rip) const {
    if (!in_last_block(rip)) return instructions_;
    uint32_t done = rip == last_block_ ? 0
                                       : count_instructions(mem_.host_ptr(GuestPhys(last_block_)),
                                                            rip - last_block_, last_block_);
    return instructions_ - last_block_insns_ + done;
}

void BlockClock::on_split_point() {
    split_hit_ = true;
    uc_emu_stop(uc_);
}

void BlockClock::add_counters(GuestCounters& c) const {
    c.instructions = instructions_;
    c.blocks = blocks_;
    c.idle_ticks = idle_ticks_;
    c.timer_interrupts = timer_interrupts_;
}

} // namespace vmmu
