// Several vCPUs under a hypervisor that uses hardware nested paging (slat, and agile's nested
// part; docs/ARCHITECTURE.md "Several vCPUs"): which local-APIC accesses take an exit, and the
// counters of the flushes the hypervisor sends to every vCPU of the VM when it changes the EPT
// (or another structure the vCPUs share).
#pragma once

#include "engine/mmu/counters.h"
#include "engine/mmu/profile.h"

#include <bit>
#include <cstdint>

namespace vmmu {

// Which APIC accesses exit, from the profile's APIC-virtualization features.
struct ApicExits {
    // The sender's ICR write: an APIC-write exit, also under APICv (a trap-like APIC-write VM exit
    // for every IPI but a self-IPI), unless IPI virtualization posts it (features.ipiv).
    bool send = true;
    // The receiver's injection: an external-interrupt exit and an injection at entry, unless
    // APICv posts the interrupt to the running vCPU (posted-interrupt processing, Intel SDM
    // vol. 3, "APIC Virtualization and Virtual Interrupts").
    bool receive = true;
    // The EOI write: an APIC-access exit, unless virtual-interrupt delivery virtualizes it (EOI
    // virtualization, same chapter). Counted as `io`: it ends the timer's interrupt as
    // well as an IPI's, and on one vCPU (no IPIs at all) it is the APIC port write it always was.
    bool eoi = true;
    static ApicExits of(const Profile& p) { return {!p.ipiv, !p.apicv, !p.apicv}; }
};

// Reported under "details" once they count something.
struct VcpuCounters {
    uint64_t ipis_sent = 0;     // APIC writes that sent an IPI (exit or not)
    uint64_t ipi_targets = 0;   // the vCPUs those IPIs reached
    uint64_t ipis_received = 0; // IPIs delivered (exit or not)
    // Flushes the hypervisor asks of every vCPU (INVEPT on each, as KVM's remote TLB flush
    // request): how many, the other vCPUs kicked out of the guest for them (each a
    // `remote_flush` exit), and the TLB and nested-TLB entries they dropped on those vCPUs.
    uint64_t remote_flush_requests = 0;
    uint64_t remote_flush_vcpus = 0;
    uint64_t remote_flush_entries = 0;

    void on_ipi_send(uint32_t dests) {
        ipis_sent++;
        ipi_targets += static_cast<uint64_t>(std::popcount(dests));
    }
    // A flush reached the `others` other vCPUs (none: nothing to count) and dropped `entries` of
    // theirs; with `kick` they were in the guest, each kicked out: a `remote_flush` exit counted
    // in `exits`. Returns the exits taken.
    uint64_t on_remote_flush(uint64_t others, uint64_t entries, bool kick, ExitCounters& exits) {
        if (!others) return 0;
        remote_flush_requests++;
        remote_flush_entries += entries;
        if (!kick) return 0;
        remote_flush_vcpus += others;
        exits.count(ExitReason::RemoteFlush, others);
        return others;
    }
    void report(Details& d) const {
        report_nonzero(d, "ipis_sent", ipis_sent);
        report_nonzero(d, "ipi_targets", ipi_targets);
        report_nonzero(d, "ipis_received", ipis_received);
        report_nonzero(d, "remote_flush_requests", remote_flush_requests);
        report_nonzero(d, "remote_flush_vcpus", remote_flush_vcpus);
        report_nonzero(d, "remote_flush_entries", remote_flush_entries);
    }
};

} // namespace vmmu
