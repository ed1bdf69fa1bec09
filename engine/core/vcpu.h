// The vCPU: one Unicorn instance running the guest, with the hooks that make the functional
// layer work (docs/ARCHITECTURE.md): the MMIO data path, block counting, exception, syscall and
// timer delivery, port I/O and sensitive-instruction events. Internal to engine/core (Machine owns
// it).
#pragma once

#include "engine/core/boot.h"
#include "engine/core/event_log.h"
#include "engine/core/functional_tlb.h"
#include "engine/core/machine.h"
#include "engine/core/sensitive.h"

#include <unicorn/unicorn.h>

#include <array>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace vmmu {

class Vcpu;
struct SensitiveHookData {
    Vcpu* vcpu;
    const SensitiveInsn* insn;
};

// Why the run stopped (set by hooks, acted on by the run loop).
struct StopRequest {
    StopKind kind = StopKind::Exited;
    int status = 0;
    std::string message;
    std::optional<uint64_t> rip; // where, if known better than the current RIP
};

class Vcpu {
public:
    Vcpu(GuestMemory& mem, const BootState& boot, const ElfImage& kernel,
         const MachineConfig& config, const std::vector<GuestObserver*>& observers);
    ~Vcpu();
    Vcpu(const Vcpu&) = delete;
    Vcpu& operator=(const Vcpu&) = delete;

    // Runs until the guest stops, or until `quantum` more instructions have retired (0: no
    // quantum); a run cut by its quantum returns StopKind::Quantum and can be resumed.
    RunResult run(uint64_t quantum = 0);
    bool finished() const { return stop_.has_value(); }
    // The guest instruction being executed, for exit traces (not the hot path): inside a block
    // hook the block's address (Unicorn has not synced RIP there), elsewhere RIP, which the
    // memory hook keeps exact during a data access.
    uint64_t current_rip() const { return fetch_rip_ ? fetch_rip_ : reg(UC_X86_REG_RIP); }

    // Hook entry points (static trampolines call these).
    void on_block(uint64_t addr, uint32_t size);
    uint64_t on_mmio_read(uint64_t va, unsigned size);
    void on_mmio_write(uint64_t va, unsigned size, uint64_t value);
    void on_interrupt(uint32_t intno);
    void on_syscall();
    void on_out(uint32_t port, int size, uint32_t value);
    void on_sensitive(const SensitiveInsn& insn);
    void on_split_point();
    void on_bad_access(int type, uint64_t addr, int size);

private:
    // Translation of a guest VA for the engine's own use; nullopt if not mapped.
    std::optional<uint64_t> translate(uint64_t va);
    // translate() for the MMIO path: a functional-TLB hit inline, anything else (a walk, or a
    // stop when the access has no guest memory behind it; then UINT64_MAX) out of line.
    uint64_t translate_or_stop(uint64_t va) {
        uint64_t page = ftlb_.lookup(va >> 12);
        if (page != UINT64_MAX) [[likely]]
            return page | (va & 0xfff);
        return translate_miss_or_stop(va);
    }
    [[gnu::noinline]] uint64_t translate_miss_or_stop(uint64_t va);
    void read_virt(uint64_t va, void* dst, uint64_t len);
    void write_virt(uint64_t va, const void* src, uint64_t len);
    std::string read_guest_string(uint64_t va, uint64_t len);
    void data_access(uint64_t va, uint64_t gpa, unsigned size, bool write);
    [[gnu::noinline]] bool break_sharing(uint64_t gpa);
    [[gnu::noinline]] void notify_access(uint64_t va, uint64_t gpa, unsigned size, bool write);

    // Backend events. The last few blocks sent in full are kept (sent(age), newest first). A
    // block that repeats the one sent p blocks ago (p <= kMaxLoopBlocks) starts a loop whose
    // body is the last p blocks sent; while the blocks that run match the body page by page,
    // in order, they are not sent: whole passes are counted (repeats_) and go to the backends as
    // one on_loop_repeats(), before anything else they see (settle_blocks). When a block stops
    // matching, the loop ends (end_loop) and what ran of the pass under way is sent in full.
    bool same_access(const DataAccess& a, uint64_t va, uint64_t gpa, bool write) const {
        return (((va ^ a.va.value()) | (gpa ^ a.pa.value())) >> 12) == 0 && write == a.write &&
               user_ == a.user;
    }
    bool matches_reference(uint64_t va, uint64_t gpa, bool write) {
        if (matched_ == match_->accesses.size() ||
            !same_access(match_->accesses[matched_], va, gpa, write))
            return false;
        ++matched_;
        return true;
    }
    void settle_blocks() {
        if (matching_) [[unlikely]]
            end_match();
    }
    bool same_fetch(const Fetch& r, uint64_t addr, uint32_t size, uint32_t n) const {
        return r.va.value() == addr && r.bytes == size && r.instructions == n && r.user == user_;
    }
    void start_match() { // a loop starts with its body's first block
        loop_pos_ = 0;
        match_ = &body(0);
        matching_ = true;
        matched_ = 0;
    }
    [[gnu::noinline]] void end_match();
    void end_loop(bool partial);
    void send_fetch(const Fetch& f);
    void send_access(const DataAccess& a);
    // Every backend event other than a block's fetch and accesses goes through here.
    template <class Event> void broadcast(Event&& event) {
        settle_blocks();
        for (GuestObserver* b : backends_) event(*b);
    }

    uint64_t out_rip() const; // address of the OUT instruction being executed
    uint32_t block_instructions(uint64_t addr, uint32_t size) {
        const BlockCount& c = block_cache_[block_slot(addr)];
        return c.addr == addr && c.size == size ? c.instructions : count_block(addr, size);
    }
    static size_t block_slot(uint64_t addr) { return (addr ^ (addr >> 14)) & (kBlockSlots - 1); }
    // Out of line, so that the block hook's common path needs no stack frame.
    [[gnu::noinline]] void on_new_block(uint64_t addr, uint32_t size);
    inline void run_block(uint64_t addr, uint32_t size, uint32_t n);
    [[gnu::noinline]] uint32_t count_block(uint64_t addr, uint32_t size);
    [[gnu::noinline]] bool block_may_run(uint64_t addr, uint32_t n);
    // The block's fetch for the backends: in a loop, the body block due next running as it
    // should is only counted, inline; everything else goes to send_block.
    void fetch_block(uint64_t addr, uint32_t size, uint32_t n) {
        if (matching_ && matched_ == match_->accesses.size()) [[likely]] {
            size_t pos = loop_pos_ + 1 == loop_len_ ? 0 : loop_pos_ + 1;
            const SentBlock& next = body(pos);
            if (same_fetch(next.fetch, addr, size, n)) [[likely]] {
                repeats_ += pos == 0;
                loop_pos_ = pos;
                match_ = &next;
                matched_ = 0;
                return;
            }
        }
        send_block(addr, size, n);
    }
    [[gnu::noinline]] void send_block(uint64_t addr, uint32_t size, uint32_t n);
    void prepare_block_hook();
    void account_stop(uint64_t rip);
    void stop_before_block(uint64_t addr);
    bool deliver(uint8_t vector, std::optional<uint32_t> error_code);
    void handle_exception();
    void arm_split(uint64_t block, uint32_t k);
    void disarm_split();
    void stop(StopKind kind, std::string message, int status = 0);
    void fill_diagnostics(RunResult& r, uint64_t rip) const;

    uint64_t reg(int id) const;
    void set_reg(int id, uint64_t v);
    bool user_text(uint64_t rip) const { return rip >= prog_text_begin_ && rip < prog_text_end_; }

    GuestMemory& mem_;
    const BootState& boot_;
    const ElfImage& kernel_;
    const MachineConfig& config_;
    const std::vector<GuestObserver*>& backends_; // the machine's observers

    uc_engine* uc_ = nullptr;
    uc_context* scratch_ = nullptr;
    std::vector<uc_hook> hooks_;
    std::deque<SensitiveInsn> sensitive_; // stable addresses: hook user data points into it
    std::deque<SensitiveHookData> hook_data_;
    std::vector<uint8_t> code_frame_; // 1 for frames holding guest code (never written)
    uint64_t prog_text_begin_ = 0, prog_text_end_ = 0;
    uint64_t window_ = 0; // G: start of the MMIO window

    FunctionalTlb ftlb_;
    uint64_t cr3_ = 0;

    static constexpr size_t kBlockSlots = size_t{1} << 14;
    struct BlockCount {
        uint64_t addr = UINT64_MAX;
        uint32_t size = 0, instructions = 0;
    };
    std::vector<BlockCount> block_cache_;
    std::unordered_map<uint64_t, BlockCount> block_map_;

    // Time: instructions retired plus idle time skipped at hlt; the timer runs on time.
    // (Modular arithmetic: skipping to a tick sets idle_ so that time() is that tick.)
    GuestCounters counters_;
    uint64_t idle_ = 0;
    uint64_t time() const { return counters_.instructions + idle_; }
    uint64_t next_tick_ = 0;
    // The block hook runs its full checks (block_may_run) only when the instruction count after
    // the block would reach this end: the earlier of the next tick (when one can fall inside a
    // block; 0 while a tick is pending, so the hook watches for interrupts being enabled) and
    // the budget or quantum. Set by prepare_block_hook() before each uc_emu_start.
    uint64_t fast_end_ = 0;
    bool has_backends_ = false; // !backends_.empty(), cached there for the block hook
    bool timer_pending_ = false;
    bool user_ = false;
    uint64_t fetch_rip_ = 0; // the block whose fetch the backends are seeing, 0 outside on_fetch
    // The blocks sent in full (see same_access), a ring: sent(0) is the newest, the block that
    // ran last or is running, and records its accesses as they are sent while it is
    // `matchable` (coalescing on, at most kMaxRefAccesses accesses). A loop's body is the
    // loop_len_ newest, oldest first (body(i)); loop_pos_ is the body block due next, match_
    // the one the running block is matching (matching_), its first matched_ accesses not sent
    // yet. repeats_: whole passes matched, not sent yet. Outside send_block, a loop is under
    // way exactly when matching_.
    struct SentBlock {
        Fetch fetch{};
        std::vector<DataAccess> accesses;
        bool matchable = false;
    };
    static constexpr size_t kMaxRefAccesses = 64;
    static constexpr size_t kMaxLoopBlocks = 4; // a power of two
    SentBlock& sent(size_t age) { return history_[(head_ - age) & (kMaxLoopBlocks - 1)]; }
    SentBlock& body(size_t i) { return history_[(loop_first_ + i) & (kMaxLoopBlocks - 1)]; }
    std::array<SentBlock, kMaxLoopBlocks> history_;
    size_t head_ = 0;
    size_t loop_len_ = 0, loop_pos_ = 0, loop_first_ = 0; // loop_first_: body(0)'s slot
    const SentBlock* match_ = nullptr;
    bool matching_ = false;
    size_t matched_ = 0;
    uint64_t repeats_ = 0;

    // The last block whose hook ran: its instructions were counted in full, and are corrected
    // when the run stops inside it.
    uint64_t last_block_ = 0;
    uint32_t last_block_size_ = 0, last_block_insns_ = 0;
    bool last_block_valid_ = false;

    // Stop reasons raised by hooks during one uc_emu_start.
    std::optional<uint32_t> pending_exception_;
    std::optional<StopRequest> stop_;
    bool tick_split_requested_ = false;
    uint64_t split_block_ = 0;
    uint32_t split_k_ = 0;
    uc_hook split_hook_ = 0;
    bool split_armed_ = false;
    bool split_hit_ = false;
    bool irq_window_ = false;
    bool budget_hit_ = false;
    uint64_t stop_at_ = UINT64_MAX;     // min(budget, end of quantum), in retired instructions
    std::optional<uint64_t> resume_at_; // RIP to resume at after a stop before a block

    std::string console_;
    std::map<std::string, uint64_t> reported_;
    EventLog events_; // recent guest events, for the report when the run stops on an error
};

} // namespace vmmu
