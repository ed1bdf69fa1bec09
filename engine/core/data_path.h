// The guest's data accesses: every load and store the guest makes, and the engine's own.
//
// All guest data lies in one MMIO window [G, 2^47), or [G, 2^48 + 2^47) with five-level paging
// (docs/ARCHITECTURE.md, "Functional layer"), so
// QEMU hands every data access to this class with the guest virtual address. It translates gVA ->
// gPA through the guest's own page tables (a functional TLB in front, flushed as the guest
// flushes), reads or writes the guest-physical buffer, refuses writes to code frames, lets the
// host break a read-only sharing before a write, counts the access, hands it to the loop
// coalescer for the observers, and reports writes to watched page-table frames. The engine's own
// accesses (exception frames, IDT gates, hypercall strings) go through the same translation
// (docs/UNICORN-2.0.1.md, fact 3). read() and write() are the MMIO callbacks' bodies: their
// common case (a functional-TLB hit, a page-internal access) is inline and allocates nothing.
#pragma once

#include "engine/core/functional_tlb.h"
#include "engine/core/guest_memory.h"
#include "engine/core/loop_coalescer.h"
#include "engine/core/machine.h"
#include "engine/core/run_stop.h"

#include <unicorn/unicorn.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace vmmu {

class DataPath {
public:
    DataPath(GuestMemory& mem, const MachineConfig& config, const std::vector<uint8_t>& code_frame,
             LoopCoalescer& coalescer, RunStop& stop);
    DataPath(const DataPath&) = delete;
    DataPath& operator=(const DataPath&) = delete;
    void bind(uc_engine* uc) { uc_ = uc; }
    uint64_t window() const { return window_; }
    uint64_t window_end() const { return window_end_; }

    // The MMIO window's callbacks (offset: from the window's start; user: the DataPath), for
    // uc_mmio_map. Defined beside read() and write(), which they inline.
    static uint64_t mmio_read(uc_engine*, uint64_t offset, unsigned size, void* user);
    static void mmio_write(uc_engine*, uint64_t offset, unsigned size, uint64_t value, void* user);
    uint64_t read(uint64_t offset, unsigned size);
    void write(uint64_t offset, unsigned size, uint64_t value);

    // The guest changed its translations: CR3 (a new root), CR0/CR4 or invlpg.
    void load_cr3(uint64_t cr3) {
        cr3_ = cr3;
        ftlb_.flush();
    }
    void flush_tlb() { ftlb_.flush(); }
    uint64_t cr3() const { return cr3_; }

    // The engine's own accesses, by guest VA; they throw std::runtime_error where the guest has
    // no mapping or the page holds code. Writes are guest data accesses like any other.
    void read_virt(uint64_t va, void* dst, uint64_t len);
    void write_virt(uint64_t va, const void* src, uint64_t len);
    std::string read_guest_string(uint64_t va, uint64_t len);

    // The data path's counters: accesses, reads, writes, page-table writes.
    void add_counters(GuestCounters& c) const;

private:
    // Translation of a guest VA for the engine's own use; nullopt if not mapped.
    std::optional<uint64_t> translate(uint64_t va);
    // translate() for the MMIO path: a functional-TLB hit inline, anything else (a walk, or a
    // stop when the access has no guest memory behind it; then UINT64_MAX) out of line.
    uint64_t translate_or_stop(uint64_t va) {
        uint64_t page = ftlb_.lookup(va >> kPageShift4K);
        if (page != UINT64_MAX) [[likely]]
            return page | (va & (kPageSize4K - 1));
        return translate_miss_or_stop(va);
    }
    [[gnu::noinline]] uint64_t translate_miss_or_stop(uint64_t va);
    void data_access(uint64_t va, uint64_t gpa, unsigned size, bool write);
    [[gnu::noinline]] bool break_sharing(uint64_t gpa);

    GuestMemory& mem_;
    const MachineConfig& config_;
    const std::vector<uint8_t>& code_frame_; // 1 for frames holding guest code (never written)
    LoopCoalescer& coalescer_;
    RunStop& stop_;
    uc_engine* uc_ = nullptr;
    const uint64_t window_;     // G: start of the MMIO window
    const uint64_t window_end_; // its end: the top of the guest's highest data region
    const int levels_;          // the guest's paging levels (4, or 5 with CR4.LA57)
    FunctionalTlb ftlb_;
    uint64_t cr3_ = 0;
    uint64_t accesses_ = 0, reads_ = 0, writes_ = 0, pt_writes_ = 0;
};

} // namespace vmmu
