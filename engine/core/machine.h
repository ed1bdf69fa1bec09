// One virtual machine: guest memory, a Unicorn vCPU, the loaded guest, and the run loop.
//
// Machine is the functional layer (docs/ARCHITECTURE.md): it makes the guest run correctly and
// delivers every event to the attached observers (engine/core/guest_events.h), which only watch.
// Where its memory sits on a host (p2m, host frames) is the host's business (engine/host/).
#pragma once

#include "engine/core/addr.h"
#include "engine/core/guest_events.h"
#include "engine/core/guest_memory.h"
#include "engine/core/hypervisor.h"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace vmmu {

// The default --vcpu-quantum: guest instructions a vCPU runs before the next takes its turn.
// Smaller interleaves finer (a spinning CPU wastes less, an IPI is taken sooner) but switches
// Unicorn instances more often (host time); estimate: 10,000 instructions is 1 % of the default
// timer period, so a CPU waiting on another for a tick's worth of work spins at most a few
// quanta, and a switch (a few microseconds of host time) stays a small share of a quantum's run.
inline constexpr uint64_t kDefaultVcpuQuantum = 10'000;

struct MachineConfig {
    uint64_t guest_bytes = uint64_t{1} << 30; // G: guest-physical memory
    uint64_t timer_period = 1'000'000;        // guest instructions between timer interrupts
    uint64_t max_instructions = 0;            // 0: no budget
    std::string kernel_path;                  // kernel ELF
    std::vector<std::string> program_paths;   // program ELFs packed into the archive
    std::string cmdline;                      // boot command line (init's arguments)
    uint64_t boot_flags = 0;                  // VMMU_BOOT_FLAG_*
    int guest_levels = 4;      // paging levels: 5 boots with CR4.LA57 (VMMU_BOOT_FLAG_LA57)
    bool echo_console = false; // copy guest console output to stdout
    // Called before a guest write to a frame whose writes the host traps
    // (GuestMemory::trap_writes: a frame it shares read-only): the host must give the frame back
    // to the VM (copy-on-write) before the write is observed.
    std::function<void(GuestPhys)> on_shared_write;
    // Send a loop's repeated iterations to the observers as one on_loop_repeats() each (Vcpu):
    // the counters are the same either way, this is faster. Off, each block is one on_fetch()
    // and its accesses one on_access() each, as they run (exit traces want that: an exit there
    // is reported at its own instruction).
    bool coalesce_blocks = true;
    // Sample points (guest instruction counts at which on_boundary hears a Sample): every
    // `sample_period` instructions (0: none), and at `sample_at` (0: none). Each falls exactly
    // between two instructions, even inside a block or a coalesced loop.
    uint64_t sample_period = 0;
    uint64_t sample_at = 0;
    // What CPUID tells the guest about its hypervisor (engine/core/hypervisor.h), and whether
    // Hyper-V's hypercalls are answered.
    Hypervisor hypervisor = Hypervisor::None;
    // vCPUs of the VM (1..VMMU_MAX_CPUS) and the round-robin quantum in guest instructions
    // between them (docs/ARCHITECTURE.md, "Several vCPUs").
    unsigned vcpus = 1;
    uint64_t vcpu_quantum = kDefaultVcpuQuantum;
};

enum class StopKind {
    Exited,         // the guest called the exit hypercall
    Panic,          // the guest called the panic hypercall
    GuestFault,     // unhandled exception, triple fault, bad IDT, stray access
    UnbackedMemory, // the guest reached a gPA beyond its memory: an EPT violation no host can fix
    Budget,         // --max-instructions reached
    OracleMismatch, // an observer's translation disagreed with the functional one
    Quantum,        // run_for() used up its instructions; the guest can be resumed
    Interrupted,    // request_stop() (a signal handler) asked the run to stop
};

// Counts of what the guest did, seen by the functional layer.
struct GuestCounters {
    uint64_t instructions = 0; // retired guest instructions
    uint64_t idle_ticks = 0;   // timer periods skipped while halted
    uint64_t blocks = 0;       // executed translation blocks
    uint64_t data_accesses = 0, data_reads = 0, data_writes = 0;
    uint64_t page_faults = 0; // #PF delivered to the guest
    uint64_t exceptions = 0;  // all exceptions delivered (including #PF)
    uint64_t syscalls = 0;
    uint64_t timer_interrupts = 0;
    uint64_t hlts = 0;
    uint64_t io_writes = 0;
    uint64_t cr3_writes = 0;
    uint64_t invlpgs = 0;
    uint64_t pt_writes = 0;                    // writes to watched page-table frames
    uint64_t sensitive = 0;                    // other hooked sensitive instructions
    uint64_t ipis_sent = 0, ipis_received = 0; // inter-processor interrupts (several vCPUs)

    // Sums (windows summed over repeats) and differences (since a snapshot), field by field.
    template <class Op> void each(const GuestCounters& o, Op op) {
        op(instructions, o.instructions), op(idle_ticks, o.idle_ticks), op(blocks, o.blocks);
        op(data_accesses, o.data_accesses), op(data_reads, o.data_reads);
        op(data_writes, o.data_writes), op(page_faults, o.page_faults);
        op(exceptions, o.exceptions), op(syscalls, o.syscalls);
        op(timer_interrupts, o.timer_interrupts), op(hlts, o.hlts), op(io_writes, o.io_writes);
        op(cr3_writes, o.cr3_writes), op(invlpgs, o.invlpgs), op(pt_writes, o.pt_writes);
        op(sensitive, o.sensitive), op(ipis_sent, o.ipis_sent);
        op(ipis_received, o.ipis_received);
    }
    GuestCounters& operator+=(const GuestCounters& o) {
        each(o, [](uint64_t& a, uint64_t b) { a += b; });
        return *this;
    }
    GuestCounters& operator-=(const GuestCounters& o) {
        each(o, [](uint64_t& a, uint64_t b) { a -= b; });
        return *this;
    }
};

// A point of guest time at which every observer has seen exactly what ran before it: a region
// marker (VMMU_HC_ROI_BEGIN / END) or a sample point. `guest` holds the guest's counters there,
// its instruction count exact to the instruction.
struct Boundary {
    enum class Kind { RegionBegin, RegionEnd, Sample };
    Kind kind = Kind::Sample;
    std::string region; // RegionBegin / RegionEnd: the region's name
    GuestCounters guest;
    // Several vCPUs: each vCPU's own counters there (they sum to `guest`); empty with one.
    std::vector<GuestCounters> vcpus;
};

struct RunResult {
    StopKind stop = StopKind::Exited;
    int exit_status = 0;                    // from the exit hypercall
    std::string message;                    // what stopped the run, for people
    uint64_t rip = 0;                       // where it stopped
    std::string instruction;                // disassembly at rip
    std::string symbol;                     // nearest kernel symbol, "name+0x12"
    std::vector<std::string> recent_events; // the last guest events before the stop, oldest first
    GuestCounters guest;
    std::vector<GuestCounters> vcpus;         // several vCPUs: each one's (they sum to guest)
    unsigned vcpu = 0;                        // the vCPU that ran when the run stopped
    std::string console;                      // everything the guest printed
    std::string program_output;               // what its programs wrote to fd 1 and 2
    std::map<std::string, uint64_t> reported; // report hypercalls: key -> value
    double wall_seconds = 0;                  // host time: goes only in the "sim" block
};

class Machine {
public:
    explicit Machine(const MachineConfig& config);
    ~Machine();
    Machine(const Machine&) = delete;
    Machine& operator=(const Machine&) = delete;

    // Observers to feed, in order, before run(); the caller owns them and keeps them alive
    // while the machine runs.
    void attach(GuestObserver& observer);
    // Called at every region marker and sample point (MachineConfig::sample_*), after every
    // observer has seen all that ran before it; set before run().
    void on_boundary(std::function<void(const Boundary&)> listener);
    // Several vCPUs: called when vCPU `next` takes its turn from another, after every observer's
    // on_vcpu_switch, with the VM's retired instructions there; everything counted since the
    // previous call was counted while the previous vCPU ran. Set before run().
    void on_vcpu_switch(std::function<void(unsigned next, uint64_t instructions)> listener);
    // The paging state the guest boots with (what an MMU model starts from).
    uint64_t initial_cr3() const;
    uint64_t initial_cr4() const;

    RunResult run();
    // Runs at most `instructions` more guest instructions (at block granularity) and returns;
    // StopKind::Quantum means the guest is still running. For scheduling several VMs.
    RunResult run_for(uint64_t instructions);
    bool finished() const;
    // Guest RIP of the instruction running now, for exit traces raised inside an access or a
    // fetch (whose events carry no RIP). Reads a register: not for the per-access path.
    uint64_t current_rip() const;
    // Guest instructions retired before that instruction (guest time, for exit traces): with
    // several vCPUs, the VM's (every vCPU's retired instructions, the running one's up to it).
    uint64_t current_instructions() const;
    // The vCPU that runs now, or ran last (0 with one vCPU).
    unsigned current_vcpu() const;

    GuestMemory& memory() { return *memory_; }
    const MachineConfig& config() const { return config_; }

private:
    struct Impl;
    MachineConfig config_;
    std::unique_ptr<GuestMemory> memory_;
    std::vector<GuestObserver*> observers_;
    std::unique_ptr<Impl> impl_;
};

} // namespace vmmu
