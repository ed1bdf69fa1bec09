// Port I/O: the guest's console and its hypercalls to the engine.
//
// The guest talks to the engine with `out` to two ports (workloads/include/vmmu/abi.h), which
// Unicorn hands to a UC_HOOK_INSN hook (docs/UNICORN-2.0.1.md, fact 13): a byte to the console
// port is console output; a value to the hypercall port is a request with its arguments in RDI,
// RSI and R10 (write a string, report a key/value, panic, exit). Every `out` is also a guest
// event the observers hear (on_io): a hypervisor exits on it. Unicorn does not sync RIP before an
// `out`, so the instruction's address is found by decoding the running block (out_rip).
//
// Hyper-V's hypercalls (--hypervisor hyperv) come the same way with their own number
// (VMMU_HC_HYPERV, workloads/include/vmmu/abi.h) and are handled apart (hyperv_hypercall): they
// are not port I/O to the hypervisor that receives them, so observers hear on_hv_switch_as /
// on_hv_flush instead of on_io.
#pragma once

#include "engine/core/block_clock.h"
#include "engine/core/data_path.h"
#include "engine/core/event_log.h"
#include "engine/core/guest_events.h"
#include "engine/core/loop_coalescer.h"
#include "engine/core/machine.h"
#include "engine/core/run_stop.h"

#include "vmmu/abi.h"

#include <unicorn/unicorn.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace vmmu {

// What the APIC port and the start-CPU hypercall reach (workloads/include/vmmu/abi.h, "SMP"):
// the machine's vCPUs. Each call throws std::runtime_error naming a guest error (a CPU that does
// not exist or is started twice, a vector below 32).
class CpuBus {
public:
    virtual ~CpuBus() = default;
    // Returns the CPUs the IPI reached (bit i: CPU i).
    virtual uint32_t ipi(unsigned from, uint8_t vector, unsigned dest, unsigned shorthand) = 0;
    virtual void eoi(unsigned cpu) = 0;
    virtual void start_cpu(unsigned from, uint64_t cpu, uint64_t rip, uint64_t rsp) = 0;
    // HvFlushVirtualAddress* naming processors (`mask`, or every one if `all`): flushes the
    // functional TLB of every named, started vCPU but `from` whose CR3 holds `address_space` and
    // returns them (bit i: vCPU i); throws when the mask names a vCPU that does not exist.
    virtual uint32_t hv_flush_targets(unsigned from, uint64_t mask, bool all,
                                      uint64_t address_space) = 0;
    // Tells the observers each target's part of the flush (HvFlush, remote = true).
    virtual void hv_flush_observers(unsigned from, uint64_t rip, const HvFlush& f) = 0;
    // Guest instructions every vCPU but `cpu` has retired (the VM's time is theirs plus its own).
    virtual uint64_t others_instructions(unsigned cpu) const = 0;
};

// What the vCPUs of one VM share through their ports: the console, the reported values and the
// regions of interest each process has open.
struct PortShared {
    std::string console;
    std::string program_output; // what programs wrote (VMMU_HC_WRITE with a program stream)
    std::map<std::string, uint64_t> reported;
    struct OpenRegion {
        std::string name, program;
    };
    // Each process (address space, by CR3) nests its own regions, outermost first, at most
    // kMaxRegionDepth deep. Processes may have the same region open at once (sessions' apps):
    // its window is the time at least one has it open, so a boundary is reported when the count
    // of processes holding it goes 0 -> 1 or 1 -> 0.
    std::map<uint64_t, std::vector<OpenRegion>> open_regions;
    std::map<std::string, uint64_t> holders;
};

class PortIo {
public:
    PortIo(const GuestMemory& mem, const MachineConfig& config, DataPath& data, BlockClock& clock,
           LoopCoalescer& coalescer, RunStop& stop, EventLog& log, GuestCounters& counters,
           PortShared& shared)
        : mem_(mem), config_(config), data_(data), clock_(clock), coalescer_(coalescer),
          stop_(stop), log_(log), counters_(counters), shared_(shared) {}
    PortIo(const PortIo&) = delete;
    PortIo& operator=(const PortIo&) = delete;
    void bind(uc_engine* uc) { uc_ = uc; }
    // The vCPU this port belongs to and the bus its APIC port and start-CPU hypercall reach
    // (none: one vCPU, and both are guest errors).
    void bind_cpu(unsigned index, CpuBus* bus) {
        cpu_ = index;
        bus_ = bus;
    }
    // Region markers are reported here (kind, region name, exact instruction count there).
    using BoundaryFn = std::function<void(Boundary::Kind, const std::string&, uint64_t)>;
    void on_boundary(BoundaryFn fn) { boundary_ = std::move(fn); }

    // UC_HOOK_INSN out.
    void on_out(uint32_t port, uint32_t value);

    const std::string& console() const { return shared_.console; }
    // What programs wrote to fd 1 and 2 (VMMU_HC_WRITE with a stream), without kernel messages.
    const std::string& program_output() const { return shared_.program_output; }
    const std::map<std::string, uint64_t>& reported() const { return shared_.reported; }

    // The guest's `mov cr3` that completes a switch or flush hypercall (abi.h): true when one is
    // awaited and `cr3` is the address space the hypercall left loaded (the vCPU then performs it
    // without telling the observers); throws std::runtime_error when it is another value.
    bool completes_hypercall(uint64_t cr3);

private:
    uint64_t out_rip() const; // address of the OUT instruction being executed
    void emit(const std::string& s, uint64_t stream = VMMU_STREAM_KERNEL);
    // Returns the value for RAX (0 but for VMMU_HC_CLOCK).
    uint64_t hypercall(uint64_t rip, uint32_t number);
    // Region markers (VMMU_HC_ROI_BEGIN / END) and the check at exit that every region closed.
    void roi_begin(uint64_t rip, uint64_t name_va, uint64_t name_len, uint64_t program_va);
    void roi_end(uint64_t rip, uint64_t program_va);
    bool regions_closed();
    uint64_t address_space() const;
    std::string guest_cstring(uint64_t va);
    // A Hyper-V hypercall: returns the TLFS result value for RAX.
    uint64_t hyperv_hypercall(uint64_t rip);
    uint64_t hyperv_flush(uint64_t rip, uint64_t input, uint64_t in_gpa);
    void apic(uint64_t rip, uint32_t value);

    const GuestMemory& mem_;
    const MachineConfig& config_;
    DataPath& data_;
    BlockClock& clock_;
    LoopCoalescer& coalescer_;
    RunStop& stop_;
    EventLog& log_;
    GuestCounters& counters_;
    PortShared& shared_;
    uc_engine* uc_ = nullptr;
    unsigned cpu_ = 0;
    CpuBus* bus_ = nullptr;
    BoundaryFn boundary_;
    using OpenRegion = PortShared::OpenRegion;
    std::optional<uint64_t> awaited_cr3_; // the mov cr3 that completes a Hyper-V hypercall
    std::vector<GuestVirt> hv_pages_;     // a flush list's pages, reused
};

} // namespace vmmu
