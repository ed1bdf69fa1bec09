// Loop coalescing: what of each executed block goes to the observers one event at a time, and
// what goes as one on_loop_repeats(body, k).
//
// Most executed blocks repeat a block that just ran, touching the same pages
// (docs/ARCHITECTURE.md, "Loop coalescing"). The coalescer keeps the last kMaxLoopBlocks blocks it
// sent in full, newest first (sent(age)). A block that repeats the one sent p <= kMaxLoopBlocks
// blocks ago starts a loop whose body is those p blocks; while the blocks that run match the body
// page by page, in order, they are only counted (each access's offset in its page recorded), and
// whole passes go to the observers as one on_loop_repeats() before anything else they see
// (settle), or when kMaxPendingOffsets offsets wait. When a block or an access stops matching,
// the loop ends (end_loop) and what ran of the pass under way is sent in full, at the offsets it
// ran at. The observers therefore see the very stream they would see with coalescing off, address
// for address, only shorter; it knows nothing of Unicorn, so tests/loop_coalescer_test.cpp checks
// that with synthetic blocks.
// The vCPU calls block() and access() on its hot paths: their common cases are inline.
#pragma once

#include "engine/core/guest_events.h"
#include "engine/core/run_stop.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace vmmu {

class LoopCoalescer {
public:
    // `coalesce` false: every block and access is sent as it runs.
    LoopCoalescer(const std::vector<GuestObserver*>& observers, bool coalesce, RunStop& stop)
        : observers_(observers), coalesce_(coalesce), stop_(stop) {}
    LoopCoalescer(const LoopCoalescer&) = delete;
    LoopCoalescer& operator=(const LoopCoalescer&) = delete;

    // Observers are attached after construction: call before the guest runs again.
    void refresh() { has_observers_ = !observers_.empty(); }
    bool has_observers() const { return has_observers_; }
    // Whether the guest is in a user program; goes into every fetch and access that follows.
    void set_user(bool user) { user_ = user; }
    // The block whose fetch the observers are seeing, 0 outside on_fetch / on_loop_repeats.
    uint64_t fetch_rip() const { return fetch_rip_; }
    // A loop is under way: some of what ran has not been sent yet.
    bool in_loop() const { return matching_; }

    // A block of `n` instructions runs: in a loop, the body block due next running as it should
    // is only counted, inline; everything else goes to send_block.
    void block(uint64_t addr, uint32_t size, uint32_t n) {
        if (matching_ && matched_ == match_->accesses.size()) [[likely]] {
            size_t pos = loop_pos_ + 1 == loop_len_ ? 0 : loop_pos_ + 1;
            SentBlock& next = body(pos);
            if (same_fetch(next.fetch, addr, size, n)) [[likely]] {
                if (pos == 0 && ++repeats_ == flush_at_) [[unlikely]]
                    flush_repeats();
                loop_pos_ = pos;
                match_ = &next;
                matched_ = 0;
                return;
            }
        }
        send_block(addr, size, n);
    }
    // The running block makes a data access (gpa: its functional translation).
    void access(uint64_t va, uint64_t gpa, unsigned size, bool write) {
        if (matching_) {
            if (matches_reference(va, gpa, size, write)) return;
            end_match();
        }
        if (has_observers_) notify_access(va, gpa, size, write);
    }
    // Sends everything counted but not sent yet: before any other event, and whenever the
    // observers must have seen all that ran (the end of a uc_emu_start, a host remap).
    void settle() {
        if (matching_) [[unlikely]]
            end_match();
    }
    // Every observer event other than a block's fetch and accesses goes through here.
    template <class Event> void broadcast(Event&& event) {
        settle();
        for (GuestObserver* o : observers_) event(*o);
    }

    static constexpr size_t kMaxRefAccesses = 64; // a block with more is never a loop body
    static constexpr size_t kMaxLoopBlocks = 4;   // a power of two
    // Offsets recorded before the whole passes they belong to go out (a bound on memory; a
    // loop's passes may go out in several on_loop_repeats, which observers cannot tell apart).
    static constexpr size_t kMaxPendingOffsets = 16384;

private:
    // A block sent in full, with its accesses while it is `matchable` (coalescing on, at most
    // kMaxRefAccesses accesses). As a loop body block: `offsets`, the offset in its page of each
    // access of each repeat not sent yet, pass by pass (BlockEvents::offsets).
    struct SentBlock {
        Fetch fetch{};
        std::vector<DataAccess> accesses;
        std::vector<uint16_t> offsets;
        bool matchable = false;
    };

    bool same_access(const DataAccess& a, uint64_t va, uint64_t gpa, unsigned size,
                     bool write) const {
        return (((va ^ a.va.value()) | (gpa ^ a.pa.value())) >> kPageShift4K) == 0 &&
               write == a.write && user_ == a.user && size == a.size;
    }
    bool same_fetch(const Fetch& r, uint64_t addr, uint32_t size, uint32_t n) const {
        return r.va.value() == addr && r.bytes == size && r.instructions == n && r.user == user_;
    }
    bool matches_reference(uint64_t va, uint64_t gpa, unsigned size, bool write) {
        if (matched_ == match_->accesses.size() ||
            !same_access(match_->accesses[matched_], va, gpa, size, write))
            return false;
        match_->offsets.push_back(static_cast<uint16_t>(va & (kPageSize4K - 1)));
        ++matched_;
        return true;
    }
    void start_match() { // a loop starts with its body's first block
        size_t pass = 0;
        for (size_t i = 0; i < loop_len_; ++i) pass += body(i).accesses.size();
        flush_at_ = pass ? std::max<size_t>(1, kMaxPendingOffsets / pass) : ~uint64_t{0};
        loop_pos_ = 0;
        match_ = &body(0);
        matching_ = true;
        matched_ = 0;
    }
    SentBlock& sent(size_t age) { return history_[(head_ - age) & (kMaxLoopBlocks - 1)]; }
    SentBlock& body(size_t i) { return history_[(loop_first_ + i) & (kMaxLoopBlocks - 1)]; }

    [[gnu::noinline]] void send_block(uint64_t addr, uint32_t size, uint32_t n);
    [[gnu::noinline]] void notify_access(uint64_t va, uint64_t gpa, unsigned size, bool write);
    [[gnu::noinline]] void end_match();
    void end_loop(bool partial);
    [[gnu::noinline]] void flush_repeats();
    // Sends repeats_ whole passes as one on_loop_repeats and forgets their offsets.
    void send_repeats();
    void send_fetch(const Fetch& f);
    void send_access(const DataAccess& a);

    const std::vector<GuestObserver*>& observers_;
    const bool coalesce_;
    RunStop& stop_; // an observer's OracleMismatch stops the run
    bool has_observers_ = false;
    bool user_ = false;
    uint64_t fetch_rip_ = 0;

    // The blocks sent in full, a ring: sent(0) is the newest, the block that ran last or is
    // running, and records its accesses as they are sent. A loop's body is the loop_len_ newest,
    // oldest first (body(i)); loop_pos_ is the body block due next, match_ the one the running
    // block is matching (matching_), its first matched_ accesses not sent yet. repeats_: whole
    // passes matched, not sent yet. Outside send_block, a loop is under way exactly when
    // matching_.
    std::array<SentBlock, kMaxLoopBlocks> history_;
    size_t head_ = 0;
    size_t loop_len_ = 0, loop_pos_ = 0, loop_first_ = 0; // loop_first_: body(0)'s slot
    SentBlock* match_ = nullptr;
    bool matching_ = false;
    size_t matched_ = 0;
    uint64_t repeats_ = 0;
    uint64_t flush_at_ = 0; // repeats_ at which whole passes go out before the loop ends
};

} // namespace vmmu
