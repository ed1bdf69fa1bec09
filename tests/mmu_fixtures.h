// Hand-built guest page tables in a GuestMemory, for MMU model tests.
#pragma once

#include "engine/core/guest_memory.h"
#include "engine/host/p2m.h"
#include "engine/core/paging.h"
#include "engine/mmu/registry.h"
#include "engine/mmu/profile.h"

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>

namespace vmmu::testing {

inline Profile test_profile(const std::string& name = "nehalem-2009") {
    return load_profile(name, std::filesystem::path(VMMU_SOURCE_DIR) / "workloads/profiles");
}

constexpr uint64_t kTableFlags = x86::kPteP | x86::kPteW | x86::kPteU;

// Allocates 4K table frames upward from `table_base` and writes entries like an OS would.
class GuestTables {
public:
    GuestTables(GuestMemory& mem, GuestPhys table_base) : mem_(mem), next_(table_base) {}

    GuestPhys new_table() {
        GuestPhys pa = next_;
        next_ += kPageSize4K;
        for (unsigned i = 0; i < 512; ++i) mem_.write_u64(pa + 8 * i, 0);
        return pa;
    }
    // Maps the page of 2^shift bytes at va to pa with leaf flags (P added).
    void map(GuestPhys root, GuestVirt va, GuestPhys pa, unsigned shift, uint64_t flags) {
        int leaf_level = shift == 12 ? 1 : shift == 21 ? 2 : 3;
        GuestPhys table = root;
        for (int level = levels; level > leaf_level; --level) {
            GuestPhys e = table + 8ull * x86::table_index(va, level);
            uint64_t v = mem_.read_u64(e);
            if (!(v & x86::kPteP)) {
                v = new_table().value() | kTableFlags;
                write_entry(e, v);
            }
            table = GuestPhys(v & x86::kPteAddrMask);
        }
        uint64_t leaf = pa.value() | flags | x86::kPteP | (leaf_level > 1 ? x86::kPtePs : 0);
        write_entry(leaf_entry(root, va, leaf_level), leaf);
    }
    // Writes one entry as the guest would, telling on_write (if set) what changed.
    void write_entry(GuestPhys e, uint64_t value) {
        uint64_t old = mem_.read_u64(e);
        mem_.write_u64(e, value);
        if (on_write) on_write(e, old, value);
    }
    uint64_t read_entry(GuestPhys e) const { return mem_.read_u64(e); }
    // Address of the entry at `level` for va (the tables above it must exist).
    GuestPhys leaf_entry(GuestPhys root, GuestVirt va, int level) const {
        GuestPhys table = root;
        for (int l = levels; l > level; --l)
            table = GuestPhys(mem_.read_u64(table + 8ull * x86::table_index(va, l)) &
                              x86::kPteAddrMask);
        return table + 8ull * x86::table_index(va, level);
    }
    std::function<void(GuestPhys, uint64_t, uint64_t)> on_write;
    int levels = 4; // 5: the root is a PML5 (CR4.LA57)

    std::optional<GuestPhys> reference(GuestPhys root, GuestVirt va) const {
        auto r = x86::walk(
            root, va, [&](GuestPhys pa) { return mem_.read_u64(pa); }, levels);
        if (!r.ok) return std::nullopt;
        return r.pa;
    }

private:
    GuestMemory& mem_;
    GuestPhys next_;
};

inline DataAccess read_of(GuestVirt va, GuestPhys pa) {
    return DataAccess{va, pa, 8, false, false};
}
inline DataAccess write_of(GuestVirt va, GuestPhys pa) {
    return DataAccess{va, pa, 8, true, false};
}

// Memory, p2m, profile and an env pointing at them, with caches off unless asked.
struct Machine {
    explicit Machine(uint64_t bytes = 64ull << 20, const std::string& profile = "nehalem-2009")
        : memory(bytes), prof(test_profile(profile)), tables(memory, GuestPhys(0x100000)) {
        root = tables.new_table();
        env.memory = &memory;
        env.p2m = &p2m;
        env.profile = &prof;
        env.pwc = false;
        env.ntlb = false;
        env.initial_cr3 = root.value();
        env.initial_cr4 = x86::kCr4Pae | x86::kCr4Pge;
    }
    std::unique_ptr<Backend> make(const std::string& name) { return create_backend(name, env); }
    // Five-level paging: the root is a PML5 and the backends see CR4.LA57.
    void use_five_levels() {
        tables.levels = 5;
        env.initial_cr4 |= x86::kCr4La57;
    }

    GuestMemory memory;
    P2m p2m;
    Profile prof;
    GuestTables tables;
    GuestPhys root; // the guest's CR3 (PCID 0)
    BackendEnv env;
};

} // namespace vmmu::testing
