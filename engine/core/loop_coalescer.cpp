#include "engine/core/loop_coalescer.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <span>
#include <vector>

namespace vmmu {

// A block runs (and is not the loop's body block due next, running as it should; block()): one
// that starts a loop is only counted; any other is sent in full and becomes sent(0).
void LoopCoalescer::send_block(uint64_t addr, uint32_t size, uint32_t n) {
    // The block that ran made fewer accesses than its body block, or this one is not the body
    // block due next (block() checked): the loop ends.
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
    s.matchable = coalesce_;
    send_fetch(s.fetch);
}

// An access sent as it runs; the newest block sent records it (while it can be matched).
void LoopCoalescer::notify_access(uint64_t va, uint64_t gpa, unsigned size, bool write) {
    DataAccess a{GuestVirt(va), GuestPhys(gpa), static_cast<uint8_t>(size), write, user_};
    send_access(a);
    SentBlock& s = sent(0);
    if (s.matchable) {
        if (s.accesses.size() < kMaxRefAccesses)
            s.accesses.push_back(a);
        else
            s.matchable = false;
    }
}

// The running block stops matching its body block (or another event comes): the loop ends.
void LoopCoalescer::end_match() {
    matching_ = false;
    if (matched_ != match_->accesses.size()) return end_loop(true);
    if (++loop_pos_ == loop_len_) { // it ran as its body block did
        loop_pos_ = 0;
        ++repeats_;
    }
    end_loop(false);
}

// The loop ends: its counted passes go to the observers first, then the body blocks that ran in
// the pass under way, each in full at the offsets they ran at, then (`partial`) the running
// block's fetch and the accesses it matched. Each is sent again as the newest block, copied from
// its body block: the copy's slot is never a body block still to be copied (p <=
// kMaxLoopBlocks), or the block itself.
void LoopCoalescer::end_loop(bool partial) {
    const size_t done = loop_pos_, first = loop_first_;
    const uint64_t k = repeats_;
    if (k) send_repeats();
    loop_len_ = loop_pos_ = 0;
    for (size_t i = 0; i < done + partial; ++i) {
        SentBlock& src = history_[(first + i) & (kMaxLoopBlocks - 1)];
        size_t n = i < done ? src.accesses.size() : matched_;
        // This pass's offsets follow those of the k passes sent (send_repeats keeps them).
        std::array<uint16_t, kMaxRefAccesses> offsets;
        std::copy_n(src.offsets.begin() + k * src.accesses.size(), n, offsets.begin());
        SentBlock& dst = history_[head_ = (head_ + 1) & (kMaxLoopBlocks - 1)];
        if (&dst != &src) {
            dst.fetch = src.fetch;
            dst.accesses.assign(src.accesses.begin(), src.accesses.begin() + n);
            dst.matchable = src.matchable;
        } else {
            dst.accesses.resize(n);
        }
        for (size_t j = 0; j < n; ++j) {
            DataAccess& a = dst.accesses[j];
            a.va = a.va.page_base() + offsets[j];
            a.pa = a.pa.page_base() + offsets[j];
        }
        send_fetch(dst.fetch);
        for (const DataAccess& a : dst.accesses) send_access(a);
    }
    for (SentBlock& b : history_) b.offsets.clear();
}

// Whole passes wait for more offsets than kMaxPendingOffsets: they go out now, and the loop
// goes on (block(), at the start of a pass).
void LoopCoalescer::flush_repeats() {
    send_repeats();
    for (size_t i = 0; i < loop_len_; ++i) body(i).offsets.clear();
}

void LoopCoalescer::send_repeats() {
    const uint64_t k = repeats_;
    repeats_ = 0;
    std::array<BlockEvents, kMaxLoopBlocks> events;
    for (size_t i = 0; i < loop_len_; ++i) {
        const SentBlock& b = body(i);
        events[i] = {b.fetch, b.accesses,
                     std::span<const uint16_t>(b.offsets.data(), k * b.accesses.size())};
    }
    fetch_rip_ = events[0].fetch.va.value();
    try {
        for (GuestObserver* o : observers_) o->on_loop_repeats({events.data(), loop_len_}, k);
    } catch (const OracleMismatch& e) {
        stop_.stop(StopKind::OracleMismatch, e.what());
    }
    fetch_rip_ = 0;
}

void LoopCoalescer::send_fetch(const Fetch& f) {
    fetch_rip_ = f.va.value();
    try {
        for (GuestObserver* o : observers_) o->on_fetch(f);
    } catch (const OracleMismatch& e) {
        stop_.stop(StopKind::OracleMismatch, e.what());
    }
    fetch_rip_ = 0;
}

void LoopCoalescer::send_access(const DataAccess& a) {
    try {
        for (GuestObserver* o : observers_) o->on_access(a);
    } catch (const OracleMismatch& e) {
        stop_.stop(StopKind::OracleMismatch, e.what());
    }
}

} // namespace vmmu
