// The guest's paging control state (CR3, CR4) and what each write invalidates in a TLB and
// its paging-structure caches, per Intel SDM vol. 3, 4.10.4.1. Shared by every backend that
// models the guest's own TLB.
#pragma once

#include "engine/core/paging.h"

#include <cstdint>

namespace vmmu {

enum class Invalidate : uint8_t {
    None,      // e.g. MOV to CR3 with PCIDE=1 and bit 63 set
    NonGlobal, // non-global entries of pcid() (MOV to CR3)
    All        // everything incl. globals (CR4.PGE toggled, CR4.PCIDE 1 -> 0)
};

class GuestCpu {
public:
    GuestCpu(uint64_t cr3, uint64_t cr4) : cr3_(cr3 & ~x86::kCr3NoFlush), cr4_(cr4) {}

    uint64_t cr3() const { return cr3_; }
    uint64_t cr4() const { return cr4_; }
    GuestPhys root() const { return x86::cr3_root(cr3_); }
    bool pcide() const { return cr4_ & x86::kCr4Pcide; }
    bool pge() const { return cr4_ & x86::kCr4Pge; }
    // Paging levels the guest's walk takes: 5 with CR4.LA57 (which cannot change while paging
    // is on, SDM 4.1.1, so a run keeps the count it booted with).
    int levels() const { return x86::paging_levels(cr4_); }
    // PCID 0 whenever CR4.PCIDE = 0 (SDM 4.10.1).
    uint16_t pcid() const { return pcide() ? x86::cr3_pcid(cr3_) : 0; }

    Invalidate write_cr3(uint64_t value) {
        bool keep = pcide() && (value & x86::kCr3NoFlush);
        cr3_ = value & ~x86::kCr3NoFlush;
        return keep ? Invalidate::None : Invalidate::NonGlobal;
    }
    Invalidate write_cr4(uint64_t value) {
        uint64_t changed = cr4_ ^ value;
        bool pcide_off = pcide() && !(value & x86::kCr4Pcide);
        cr4_ = value;
        return (changed & x86::kCr4Pge) || pcide_off ? Invalidate::All : Invalidate::None;
    }

private:
    uint64_t cr3_;
    uint64_t cr4_;
};

} // namespace vmmu
