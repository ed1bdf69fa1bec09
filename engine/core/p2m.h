// The host's map of one VM's guest-physical memory (p2m: gPA -> hPA).
//
// Guest data stays at gPA in the engine's buffer; hPA is a modelled host address. The MMU
// models place their own structures (EPT pages, shadow pages) at host addresses of their own and
// must translate to exactly p2m(gPA) (the oracle). The VM's memory is one host-contiguous,
// 1 GiB-aligned range, so 2 MiB and 1 GiB nested mappings are always possible.
#pragma once

#include "engine/core/addr.h"

namespace vmmu {

class P2m {
public:
    explicit P2m(HostPhys base = HostPhys(uint64_t{1} << 32)) : base_(base) {}
    HostPhys translate(GuestPhys pa) const { return HostPhys(base_.value() + pa.value()); }
    HostPhys base() const { return base_; }

private:
    HostPhys base_;
};

} // namespace vmmu
