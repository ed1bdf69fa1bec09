#include "engine/core/vcpu.h"

#include "engine/core/paging.h"
#include "engine/core/qemu_state.h"
#include "engine/core/stop_request.h"
#include "vmmu/abi.h"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <cstring>

namespace vmmu {
namespace {

constexpr uint64_t kMmioEnd = uint64_t{1} << 47;
using x86::kMsrEfer, x86::kMsrFmask, x86::kMsrLstar;
using x86::kRflagsIf;

// Hooks run inside QEMU's C code: nothing may be thrown through it.
template <class F> void guarded(Vcpu* v, F&& f);

uint64_t mmio_read(uc_engine*, uint64_t offset, unsigned size, void* user);
void mmio_write(uc_engine*, uint64_t offset, unsigned size, uint64_t value, void* user);

struct Trampolines {
    static void block(uc_engine*, uint64_t addr, uint32_t size, void* user) {
        static_cast<Vcpu*>(user)->on_block(addr, size);
    }
    static void intr(uc_engine*, uint32_t intno, void* user) {
        static_cast<Vcpu*>(user)->on_interrupt(intno);
    }
    static void syscall(uc_engine*, void* user) { static_cast<Vcpu*>(user)->on_syscall(); }
    static void out(uc_engine*, uint32_t port, int size, uint32_t value, void* user) {
        static_cast<Vcpu*>(user)->on_out(port, size, value);
    }
    static uint32_t in(uc_engine*, uint32_t, int, void*) { return 0xffffffffu; }
    // Unicorn reports #UD as an invalid instruction instead of an interrupt.
    static bool invalid(uc_engine*, void* user) {
        static_cast<Vcpu*>(user)->on_interrupt(6);
        return true;
    }
    static void split(uc_engine*, uint64_t, uint32_t, void* user) {
        static_cast<Vcpu*>(user)->on_split_point();
    }
    // Registered only so that Unicorn keeps RIP exact at every memory access (FACTS: it syncs
    // EIP before loads/stores when a memory hook exists); bound to address 0, never called.
    static void mem_sync(uc_engine*, uc_mem_type, uint64_t, int, int64_t, void*) {}
    // An access outside guest RAM and the MMIO window, or a data access to code memory: record
    // the address for the diagnostic, and let Unicorn stop with its error.
    static bool bad_access(uc_engine*, uc_mem_type type, uint64_t addr, int size, int64_t,
                           void* user) {
        static_cast<Vcpu*>(user)->on_bad_access(type, addr, size);
        return false;
    }
};

void sensitive_hook(uc_engine*, uint64_t, uint32_t, void* user) {
    auto* d = static_cast<SensitiveHookData*>(user);
    d->vcpu->on_sensitive(*d->insn);
}

uint64_t mmio_read(uc_engine*, uint64_t offset, unsigned size, void* user) {
    return static_cast<Vcpu*>(user)->on_mmio_read(offset, size);
}
void mmio_write(uc_engine*, uint64_t offset, unsigned size, uint64_t value, void* user) {
    static_cast<Vcpu*>(user)->on_mmio_write(offset, size, value);
}

void check(uc_err err, const char* what) {
    if (err != UC_ERR_OK)
        throw std::runtime_error(fmt::format("unicorn: {}: {}", what, uc_strerror(err)));
}

} // namespace

Vcpu::Vcpu(GuestMemory& mem, const BootState& boot, const ElfImage& kernel,
           const MachineConfig& config, const std::vector<GuestObserver*>& observers)
    : mem_(mem), boot_(boot), kernel_(kernel), config_(config), backends_(observers),
      code_frame_(mem.size() / kPageSize4K, 0), block_cache_(kBlockSlots) {
    qemu_state_offsets(); // calibrate before the first exception needs it
    window_ = mem.size();
    prog_text_begin_ = VMMU_PROG_TEXT_BASE;
    prog_text_end_ = VMMU_CODE_END;
    for (auto& [b, e] : boot.code_ranges)
        for (uint64_t f = b / kPageSize4K; f < (e + kPageSize4K - 1) / kPageSize4K; ++f)
            code_frame_[f] = 1;

    check(uc_open(UC_ARCH_X86, UC_MODE_64, &uc_), "open");
    // No "until" address: a run stops only through hooks, hlt or errors (FACTS, fact 16).
    check(uc_ctl_exits_enable(uc_), "disable until");
    // Guest RAM is execute-only: any data access below G stops with an error (FACTS, fact 6).
    check(uc_mem_map_ptr(uc_, 0, mem.size(), UC_PROT_EXEC, mem.data()), "map guest RAM");
    check(uc_mmio_map(uc_, window_, kMmioEnd - window_, mmio_read, this, mmio_write, this),
          "map MMIO window");
    check(uc_context_alloc(uc_, &scratch_), "context");

    auto add = [&](int type, void* cb, void* user, uint64_t b, uint64_t e, int insn = -1) {
        uc_hook h;
        uc_err err = insn < 0 ? uc_hook_add(uc_, &h, type, cb, user, b, e)
                              : uc_hook_add(uc_, &h, type, cb, user, b, e, insn);
        check(err, "hook");
        hooks_.push_back(h);
    };
    add(UC_HOOK_BLOCK, reinterpret_cast<void*>(Trampolines::block), this, 1, 0);
    add(UC_HOOK_INTR, reinterpret_cast<void*>(Trampolines::intr), this, 1, 0);
    add(UC_HOOK_INSN, reinterpret_cast<void*>(Trampolines::syscall), this, 1, 0,
        UC_X86_INS_SYSCALL);
    add(UC_HOOK_INSN, reinterpret_cast<void*>(Trampolines::out), this, 1, 0, UC_X86_INS_OUT);
    add(UC_HOOK_INSN, reinterpret_cast<void*>(Trampolines::in), this, 1, 0, UC_X86_INS_IN);
    add(UC_HOOK_INSN_INVALID, reinterpret_cast<void*>(Trampolines::invalid), this, 1, 0);
    add(UC_HOOK_MEM_UNMAPPED | UC_HOOK_MEM_PROT, reinterpret_cast<void*>(Trampolines::bad_access),
        this, 1, 0);
    add(UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE, reinterpret_cast<void*>(Trampolines::mem_sync), this,
        0, 0);

    for (auto& seg : kernel.segments) {
        if (!seg.exec) continue;
        for (auto& s :
             find_sensitive(kernel.bytes.data() + seg.file_offset, seg.file_size, seg.vaddr))
            sensitive_.push_back(s);
    }
    for (auto& s : sensitive_) {
        hook_data_.push_back({this, &s});
        add(UC_HOOK_CODE, reinterpret_cast<void*>(sensitive_hook), &hook_data_.back(), s.address,
            s.address);
    }

    // Long mode, paging on, CPL0 (docs/ARCHITECTURE.md "Guest boot").
    uint64_t cr4 = x86::kCr4Pae | x86::kCr4Pge | x86::kCr4Osfxsr | x86::kCr4Osxmmexcpt;
    uc_x86_msr efer{kMsrEfer, x86::kEferSce | x86::kEferLme | x86::kEferLma | x86::kEferNxe};
    uint64_t cr0 = x86::kCr0Pg | x86::kCr0Wp | (1 << 0) | (1 << 1) | (1 << 4) | (1 << 5);
    uc_x86_mmr gdtr{0, boot.gdt_base, boot.gdt_limit, 0};
    set_reg(UC_X86_REG_CR4, cr4);
    check(uc_reg_write(uc_, UC_X86_REG_MSR, &efer), "efer");
    set_reg(UC_X86_REG_CR3, boot.cr3);
    set_reg(UC_X86_REG_CR0, cr0);
    check(uc_reg_write(uc_, UC_X86_REG_GDTR, &gdtr), "gdtr");
    cr3_ = boot.cr3;
    // Selectors only (FACTS, fact 12); iretq checks them against the GDT.
    set_reg(UC_X86_REG_CS, VMMU_SEL_KERNEL_CS);
    for (int seg : {UC_X86_REG_SS, UC_X86_REG_DS, UC_X86_REG_ES}) set_reg(seg, VMMU_SEL_KERNEL_DS);
    set_reg(UC_X86_REG_RSP, boot.rsp);
    set_reg(UC_X86_REG_RDI, boot.rdi);
    set_reg(UC_X86_REG_RIP, boot.entry);
    set_reg(UC_X86_REG_EFLAGS, 0x2);
    next_tick_ = config.timer_period;
}

Vcpu::~Vcpu() {
    for (auto h : hooks_) uc_hook_del(uc_, h);
    if (scratch_) uc_context_free(scratch_);
    if (uc_) uc_close(uc_);
}

uint64_t Vcpu::reg(int id) const {
    uint64_t v = 0;
    uc_reg_read(uc_, id, &v);
    return v;
}

void Vcpu::set_reg(int id, uint64_t v) { check(uc_reg_write(uc_, id, &v), "register write"); }

void Vcpu::stop(StopKind kind, std::string message, int status) {
    if (!stop_) stop_ = StopRequest{kind, status, std::move(message), std::nullopt};
    uc_emu_stop(uc_);
}

// A block not in the direct-mapped slot: the map, or count it (once per distinct block).
uint32_t Vcpu::count_block(uint64_t addr, uint32_t size) {
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

// Before each uc_emu_start: the end of the range the block hook may count through without its
// full checks. Nothing it depends on changes while Unicorn runs (ticks, splits and the budget
// change only in the run loop), and time() moves with the instruction count in between.
void Vcpu::prepare_block_hook() {
    uint64_t tick_end = UINT64_MAX; // no tick can fall inside a block
    if (timer_pending_)
        tick_end = 0; // the hook must watch for interrupts being enabled
    else if (!split_armed_ && config_.timer_period)
        // time() + n <= next_tick_, in instructions: instructions + n < next_tick_ - idle_ + 1.
        tick_end = next_tick_ < idle_ ? 0 : std::min(next_tick_ - idle_, UINT64_MAX - 1) + 1;
    fast_end_ = std::min(tick_end, stop_at_);
    has_backends_ = !backends_.empty();
}

// The block runs: its instructions are counted in full (account_stop corrects a run that stops
// inside it), and the backends see its fetch.
void Vcpu::run_block(uint64_t addr, uint32_t size, uint32_t n) {
    counters_.instructions += n;
    ++counters_.blocks;
    last_block_valid_ = true;
    if (has_backends_) fetch_block(addr, size, n);
}

// The hook runs once per guest block: the cost of exact instruction counting. The common case
// in a hot loop, the block that just ran running again well before any tick or budget, needs no
// lookup, no stack frame, one compare against a precomputed end and three stores; everything
// else is the general path, out of line. user_ needs no update there: on_new_block set it for
// this very block, and what else changes it (deliver) also sends execution to another block.
void Vcpu::on_block(uint64_t addr, uint32_t size) {
    if (addr != last_block_ || size != last_block_size_) [[unlikely]]
        return on_new_block(addr, size);
    if (counters_.instructions + last_block_insns_ >= fast_end_ || stop_requested()) [[unlikely]]
        return on_new_block(addr, size);
    run_block(addr, size, last_block_insns_);
}

void Vcpu::on_new_block(uint64_t addr, uint32_t size) {
    uint32_t n = block_instructions(addr, size);
    if (!block_may_run(addr, n)) return;
    last_block_ = addr;
    last_block_size_ = size;
    last_block_insns_ = n;
    user_ = user_text(addr);
    run_block(addr, size, n);
}

// The checks before a block runs, in order; false when the run stops before the block.
bool Vcpu::block_may_run(uint64_t addr, uint32_t n) {
    // A timer tick falls inside this block: stop before it runs, then run up to the tick.
    uint64_t now = time();
    if (!split_armed_ && !timer_pending_ && config_.timer_period && now + n > next_tick_) {
        tick_split_requested_ = true;
        split_block_ = addr;
        split_k_ = next_tick_ > now ? static_cast<uint32_t>(next_tick_ - now) : 0;
        stop_before_block(addr);
        return false;
    }
    if (timer_pending_ && (reg(UC_X86_REG_EFLAGS) & kRflagsIf)) {
        irq_window_ = true;
        stop_before_block(addr);
        return false;
    }
    // A signal handler asked to stop (stop_request.h): stop before this block runs.
    if (stop_requested()) {
        stop(StopKind::Interrupted, "interrupted: a signal asked the run to stop");
        stop_before_block(addr);
        return false;
    }
    // One compare covers both the instruction budget and the end of a scheduling quantum.
    if (counters_.instructions >= stop_at_) {
        budget_hit_ = true;
        stop_before_block(addr);
        return false;
    }
    return true;
}

// A block runs (and is not the loop's body block due next, running as it should; fetch_block):
// one that starts a loop is only counted (see same_access); any other is sent in full and
// becomes sent(0).
void Vcpu::send_block(uint64_t addr, uint32_t size, uint32_t n) {
    // The block that ran made fewer accesses than its body block, or this one is not the body
    // block due next (fetch_block checked): the loop ends.
    if (matching_) end_match();
    // A block that ran p blocks ago starts a loop of the last p blocks sent.
    for (size_t p = 1; p <= kMaxLoopBlocks && sent(p - 1).matchable; ++p)
        if (same_fetch(sent(p - 1).fetch, addr, size, n)) {
            loop_len_ = p;
            loop_first_ = (head_ - (p - 1)) & (kMaxLoopBlocks - 1);
            return start_match();
        }
    SentBlock& s = history_[head_ = (head_ + 1) & (kMaxLoopBlocks - 1)];
    s.fetch = Fetch{GuestVirt(addr), GuestPhys(addr), size, n, user_};
    s.accesses.clear();
    s.matchable = config_.coalesce_blocks;
    send_fetch(s.fetch);
}

// The running block stops matching its body block (or another event comes): the loop ends.
void Vcpu::end_match() {
    matching_ = false;
    if (matched_ != match_->accesses.size()) return end_loop(true);
    if (++loop_pos_ == loop_len_) { // it ran as its body block did
        loop_pos_ = 0;
        ++repeats_;
    }
    end_loop(false);
}

// The loop ends: its counted passes go to the backends first, then the body blocks that ran in
// the pass under way, each in full, then (`partial`) the running block's fetch and the accesses
// it matched. Each is sent again as the newest block, copied from its body block: the copy's
// slot is never a body block still to be copied (p <= kMaxLoopBlocks), or the block itself.
void Vcpu::end_loop(bool partial) {
    const size_t len = loop_len_, done = loop_pos_, first = loop_first_;
    loop_len_ = loop_pos_ = 0;
    if (repeats_) {
        uint64_t k = repeats_;
        repeats_ = 0;
        std::array<BlockEvents, kMaxLoopBlocks> events;
        for (size_t i = 0; i < len; ++i) {
            const SentBlock& b = history_[(first + i) & (kMaxLoopBlocks - 1)];
            events[i] = {b.fetch, b.accesses};
        }
        fetch_rip_ = events[0].fetch.va.value();
        try {
            for (GuestObserver* be : backends_) be->on_loop_repeats({events.data(), len}, k);
        } catch (const OracleMismatch& e) {
            stop(StopKind::OracleMismatch, e.what());
        }
        fetch_rip_ = 0;
    }
    for (size_t i = 0; i < done + partial; ++i) {
        const SentBlock& src = history_[(first + i) & (kMaxLoopBlocks - 1)];
        size_t n = i < done ? src.accesses.size() : matched_;
        SentBlock& dst = history_[head_ = (head_ + 1) & (kMaxLoopBlocks - 1)];
        if (&dst != &src) {
            dst.fetch = src.fetch;
            dst.accesses.assign(src.accesses.begin(), src.accesses.begin() + n);
            dst.matchable = src.matchable;
        } else {
            dst.accesses.resize(n);
        }
        send_fetch(dst.fetch);
        for (const DataAccess& a : dst.accesses) send_access(a);
    }
}

void Vcpu::send_fetch(const Fetch& f) {
    fetch_rip_ = f.va.value();
    try {
        for (GuestObserver* b : backends_) b->on_fetch(f);
    } catch (const OracleMismatch& e) {
        stop(StopKind::OracleMismatch, e.what());
    }
    fetch_rip_ = 0;
}

// A stop requested in a block hook takes effect before the block runs, but Unicorn then leaves
// RIP at the last point it synced inside the previous block (it skips the PC restore when a
// stop is pending), so the block's address is remembered and written back after the run.
void Vcpu::stop_before_block(uint64_t addr) {
    resume_at_ = addr;
    last_block_valid_ = false;
    uc_emu_stop(uc_);
}

void Vcpu::account_stop(uint64_t rip) {
    if (last_block_valid_ && rip >= last_block_ && rip < last_block_ + last_block_size_) {
        uint32_t done = count_instructions(mem_.host_ptr(GuestPhys(last_block_)), rip - last_block_,
                                           last_block_);
        uint32_t undo = last_block_insns_ - done;
        counters_.instructions -= undo;
    }
    last_block_valid_ = false;
}

void Vcpu::arm_split(uint64_t block, uint32_t k) {
    // Address of the k-th instruction of the block: the tick falls just before it.
    uint64_t addr = block;
    for (uint32_t i = 0; i < k; ++i)
        addr += instruction_length(mem_.host_ptr(GuestPhys(addr)), 16, addr);
    check(uc_hook_add(uc_, &split_hook_, UC_HOOK_CODE, reinterpret_cast<void*>(Trampolines::split),
                      this, addr, addr),
          "split hook");
    // The block was translated without the hook: drop it so the hook is compiled in.
    uc_ctl_remove_cache(uc_, block, addr + 1);
    split_block_ = block;
    split_k_ = static_cast<uint32_t>(addr - block); // reused as the byte offset for disarm
    split_armed_ = true;
}

void Vcpu::disarm_split() {
    uc_hook_del(uc_, split_hook_);
    uc_ctl_remove_cache(uc_, split_block_, split_block_ + split_k_ + 1);
    split_armed_ = false;
}

void Vcpu::on_bad_access(int type, uint64_t addr, int size) {
    const char* what = type == UC_MEM_READ_UNMAPPED || type == UC_MEM_READ_PROT     ? "read"
                       : type == UC_MEM_WRITE_UNMAPPED || type == UC_MEM_WRITE_PROT ? "write"
                                                                                    : "fetch";
    std::string why =
        addr < window_
            ? fmt::format("guest RAM below {:#x} holds code only; data must live at VA >= G",
                          window_)
            : fmt::format("outside guest RAM [0, {:#x}) and the MMIO window [{:#x}, 2^47): a "
                          "non-canonical or upper-half pointer?",
                          window_, window_);
    stop(StopKind::GuestFault, fmt::format("{}-byte {} at {:#x}: {}", size, what, addr, why));
}

void Vcpu::on_split_point() {
    split_hit_ = true;
    uc_emu_stop(uc_);
}

} // namespace vmmu
