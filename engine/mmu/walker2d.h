// The two-dimensional page walk of hardware SLAT (here in engine/mmu because it is hardware two
// schemes share: slat walks it from the guest root, agile from where its shadow part ends): every
// guest table address (the CR3 root and each guest entry's table) is a gPA translated through the
// EPT before it can be read, and so is the final data gPA. A cold n-level guest × m-level EPT walk
// makes (n+1)(m+1)-1 references (Bhargava et al., ASPLOS 2008): 24 for 4 × 4, 29 for a 4-level
// guest under 5-level EPT or a 5-level (LA57) guest under 4-level EPT, 35 for 5 × 5.
// A nested TLB (gPA -> hPA) and page-walk caches in both dimensions cut that, each switchable off.
#pragma once

#include "engine/core/guest_memory.h"
#include "engine/host/host_frames.h"
#include "engine/host/p2m.h"
#include "engine/mmu/cache.h"
#include "engine/mmu/counters.h"
#include "engine/mmu/inspect.h"
#include "engine/mmu/pwc.h"
#include "engine/mmu/tlb.h"
#include "engine/mmu/ept.h"

#include <cstdint>
#include <utility>
#include <vector>

namespace vmmu {

struct Walker2dConfig {
    PwcConfig guest_pwc;   // all zero: off
    PwcConfig nested_pwc;  // all zero: off
    TlbArrayGeometry ntlb; // zero entries: off
    int guest_levels = 4;  // the guest's paging levels: 5 with CR4.LA57
};

// The walk caches of one vCPU (several vCPUs per VM, docs/ARCHITECTURE.md "Several vCPUs"): a
// core's guest and nested page-walk caches and its nested TLB. The EPT they cache is the VM's.
struct Walker2dCaches {
    GuestPwc guest_pwc;
    NestedPwc nested_pwc;
    NestedTlbArray ntlb;
    // INVEPT: what is derived from the EPT (nested TLB, nested PWC); returns the nested-TLB
    // entries dropped.
    uint64_t flush_nested() {
        nested_pwc.flush_all();
        return ntlb.flush_all();
    }
};

struct Walk2dResult {
    enum class Status : uint8_t { Ok, EptViolation, GuestNotPresent };
    Status status = Status::Ok;
    GuestPhys violation_gpa; // EptViolation: the gPA with no EPT mapping
    int fault_level = 0;     // GuestNotPresent: guest level of the not-present entry
    GuestPhys gpa;           // Ok: the data gPA
    Translation t;           // Ok: hPA frame at min(guest, EPT) page size, with guest rights
    uint64_t refs = 0;       // references made by this walk
};

class Walker2d {
public:
    Walker2d(const GuestMemory& memory, EptTables& ept, const Walker2dConfig& config,
             WalkCounters* counters);

    // Guest permissions accumulated above a table (and stored as a guest-PWC entry's flags).
    static constexpr uint16_t kPermW = 1, kPermU = 2, kPermNx = 4;

    // Walks va under guest root `root` (a gPA; a PML5 with 5 guest levels). guest_context tags the
    // guest-dimension PWC.
    // Refs are added to the counters as they are made; trace (if any) gets every step.
    Walk2dResult walk(GuestVirt va, GuestPhys root, uint32_t guest_context,
                      std::vector<WalkRef>* trace = nullptr);
    // The same from the guest table `table` of `level` (5..1) down, with the permissions `perms`
    // accumulated above it: the nested part of a walk whose upper levels another structure
    // translated (agile paging's switch from shadow to nested mode).
    Walk2dResult walk_from(GuestVirt va, int level, GuestPhys table, uint16_t perms,
                           uint32_t guest_context, std::vector<WalkRef>* trace = nullptr);

    struct Nested {
        bool ok = false;
        HostPhys hpa;         // translation of the gPA asked for
        unsigned shift = 12;  // EPT page size that mapped it
        bool writable = true; // the EPT leaf allows writes
        int fault_level = 0;  // nested level of the not-present entry
    };
    // With a p2m set, every nested translation is checked against it (throws OracleMismatch).
    // With a host, it also checks that each reached frame is the VM's own or shared (isolation).
    // The scheme an oracle mismatch names.
    void set_scheme_name(const char* scheme) { scheme_ = scheme; }
    void set_oracle(const P2m* p2m, const HostFrames* host = nullptr, int vm = 0) {
        oracle_ = p2m;
        host_ = host;
        vm_ = vm;
    }

    // Every reference then also goes through these data caches (null: the flat price).
    void set_caches(CacheHierarchy* caches) { caches_ = caches; }

    // Nested dimension only (through NTLB, nested PWC, EPT). guest_level labels the trace.
    Nested translate(GuestPhys gpa, int guest_level, uint64_t& refs, std::vector<WalkRef>* trace);

    // Guest-dimension caches: the guest's CR3 write / INVLPG / #PF / exit-without-VPID rules.
    void flush_guest_context(uint32_t context) { vcpu_.guest_pwc.flush_context(context); }
    void invalidate_guest_address(GuestVirt va, uint32_t context) {
        vcpu_.guest_pwc.invalidate_address(va, context);
    }
    void flush_guest_all() { vcpu_.guest_pwc.flush_all(); }
    // INVEPT: everything derived from the EPT (nested TLB, nested PWC); returns the nested-TLB
    // entries dropped.
    uint64_t flush_nested() { return vcpu_.flush_nested(); }

    // Several vCPUs: empty caches of this walker's geometry for a vCPU that starts, and the swap
    // of the running vCPU's caches with a parked one's (engine/mmu/per_vcpu.h).
    Walker2dCaches fresh_caches() const;
    void exchange_caches(Walker2dCaches& other) { std::swap(vcpu_, other); }

private:
    Nested translate_unchecked(GuestPhys gpa, int guest_level, uint64_t& refs,
                               std::vector<WalkRef>* trace);

    const GuestMemory& memory_;
    EptTables& ept_;
    int guest_levels_;
    WalkCounters* counters_;
    const P2m* oracle_ = nullptr;
    const HostFrames* host_ = nullptr;
    int vm_ = 0;
    const char* scheme_ = "slat";
    Walker2dConfig config_;
    Walker2dCaches vcpu_; // the running vCPU's walk caches
    CacheHierarchy* caches_ = nullptr;
};

} // namespace vmmu
