// Test fixture for the shadow backend: hand-built guest page tables in a GuestMemory, and a
// stand-in for the engine that delivers events the way the machine does (a write to a watched
// frame is applied, then reported with on_pt_write).
#pragma once

#include "engine/core/guest_memory.h"
#include "engine/host/p2m.h"
#include "engine/core/paging.h"
#include "engine/mmu/registry.h"
#include "engine/mmu/profile.h"
#include "engine/shadow/shadow_backend.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace vmmu::shadow::test {

using namespace vmmu::x86;

inline Profile test_profile(bool vpid) {
    Profile p;
    p.name = "test";
    p.base_cpi = 1;
    p.vpid = vpid;
    p.tlb.l1i = {16, 4};
    p.tlb.l1d_4k = {16, 4};
    p.tlb.l1d_large = {8, 4};
    p.tlb.stlb = {64, 4};
    p.tlb.stlb_holds_2m = true;
    p.pwc = {2, 4, 16};
    p.walk_ref_cycles = 20;
    p.pwc_hit_cycles = 2;
    p.exit_round_trip_cycles = 2000;
    p.handler_cycles.fill(1000);
    return p;
}

constexpr uint64_t kFlags = kPteP | kPteW | kPteU;
using Options = std::map<std::string, std::string>;

class TestGuest {
public:
    explicit TestGuest(Options options = {}, bool vpid = false, bool pwc = false,
                       uint64_t bytes = uint64_t{64} << 20)
        : memory_(bytes), profile_(test_profile(vpid)) {
        root_ = new_table();
        current_ = root_;
        BackendEnv env;
        env.memory = &memory_;
        env.p2m = &p2m_;
        env.profile = &profile_;
        env.pwc = pwc;
        env.oracle = true;
        env.options = std::move(options);
        env.initial_cr3 = root_.value();
        backend_ = create_backend("shadow", env);
        shadow_ = dynamic_cast<ShadowBackend*>(backend_.get());
    }

    GuestMemory& memory() { return memory_; }
    const P2m& p2m() const { return p2m_; }
    ShadowBackend& backend() { return *shadow_; }
    ShadowMmu& mmu() { return shadow_->mmu(); }
    const BackendCounters& counters() { return shadow_->counters(); }
    uint64_t exits(ExitReason r) { return counters().exits[r]; }
    uint64_t detail(const std::string& key) { return counters().details.at(key); }
    GuestPhys root() const { return root_; }

    // A zeroed guest frame for a page table: a recycled one (cleared by guest writes, which
    // the shadow may have to hear about) or a fresh one from a bump allocator.
    GuestPhys new_table() {
        if (!free_tables_.empty()) {
            GuestPhys t = free_tables_.back();
            free_tables_.pop_back();
            for (uint64_t i = 0; i < 512; ++i)
                if (memory_.read_u64(t + 8 * i)) write_u64(t + 8 * i, 0);
            return t;
        }
        GuestPhys t(next_table_);
        next_table_ += kPageSize4K;
        for (uint64_t i = 0; i < 512; ++i) memory_.write_u64(t + 8 * i, 0);
        return t;
    }
    // A page-table frame the guest no longer uses as one.
    void recycle_table(GuestPhys t) { free_tables_.push_back(t); }
    const std::vector<GuestPhys>& free_tables() const { return free_tables_; }
    void set_table_cursor(uint64_t pa) { next_table_ = pa; }

    // A guest write to guest-physical memory, reported as the engine's MMIO path does.
    void write_u64(GuestPhys pa, uint64_t value) {
        uint64_t old = memory_.read_u64(pa);
        memory_.write_u64(pa, value);
        if (memory_.watched(pa)) backend_->on_pt_write(0, pa, old, value, 8);
    }

    // Address of the entry for `va` at `level` under `root`, creating tables above it.
    GuestPhys entry_pa(GuestPhys root, uint64_t va, int level) {
        GuestPhys table = root;
        for (int l = 4; l > level; --l) {
            GuestPhys e = table + 8ull * table_index(va, l);
            uint64_t v = memory_.read_u64(e);
            if (!(v & kPteP)) {
                GuestPhys t = new_table();
                write_u64(e, t.value() | kFlags);
                v = memory_.read_u64(e);
            }
            table = GuestPhys(v & kPteAddrMask);
        }
        return table + 8ull * table_index(va, level);
    }
    void map(GuestPhys root, uint64_t va, uint64_t pa, uint64_t flags = kFlags) {
        write_u64(entry_pa(root, va, 1), pa | flags);
    }
    void map(uint64_t va, uint64_t pa, uint64_t flags = kFlags) { map(root_, va, pa, flags); }
    void map_2m(GuestPhys root, uint64_t va, uint64_t pa, uint64_t flags = kFlags) {
        write_u64(entry_pa(root, va, 2), pa | flags | kPtePs);
    }

    // The guest's own translation of va under `root` (the functional layer's answer).
    bool reference(GuestPhys root, uint64_t va, GuestPhys& pa) const {
        auto r = walk(root, va, [&](GuestPhys e) { return memory_.read_u64(e); });
        if (r.ok) pa = r.pa;
        return r.ok;
    }
    // A successful guest data access: delivered only if the guest tables allow it.
    bool access(uint64_t va, bool write = false) {
        auto r = walk(current_, va, [&](GuestPhys e) { return memory_.read_u64(e); });
        if (!r.ok || (write && !r.writable)) return false;
        backend_->on_access(DataAccess{GuestVirt(va), r.pa, 8, write, true});
        return true;
    }
    void cr3(GuestPhys root) {
        current_ = root;
        backend_->on_cr3_write(0, root.value());
    }
    void invlpg(uint64_t va) { backend_->on_invlpg(0, GuestVirt(va)); }
    GuestPhys current() const { return current_; }

private:
    GuestMemory memory_;
    P2m p2m_;
    Profile profile_;
    uint64_t next_table_ = 0x100000;
    std::vector<GuestPhys> free_tables_;
    GuestPhys root_;
    GuestPhys current_;
    std::unique_ptr<Backend> backend_;
    ShadowBackend* shadow_ = nullptr;
};

} // namespace vmmu::shadow::test
