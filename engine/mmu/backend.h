// The interface every MMU scheme implements, and the registry that creates one by name.
//
// The engine runs the guest once and feeds the same stream of events to every attached
// backend. A backend keeps its own TLB and walk-cache models and its own structures (shadow or
// nested tables), counts what its scheme would do, and never changes what the guest sees.
// The functional translation (pa) comes with every access so a backend can check its own
// translation against it (the oracle: its hPA must equal p2m(pa)).
#pragma once

#include "engine/core/addr.h"
#include "engine/core/guest_memory.h"
#include "engine/core/host_frames.h"
#include "engine/core/p2m.h"
#include "engine/mmu/counters.h"

#include <functional>
#include <map>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace vmmu {

struct Profile; // engine/mmu/profile.h

struct DataAccess {
    GuestVirt va;
    GuestPhys pa; // functional translation of va
    uint8_t size;
    bool write;
    bool user; // the guest is in a user program (the guest runs at CPL0; see ARCHITECTURE.md)
};

struct Fetch {
    GuestVirt va; // first byte of an executed block
    GuestPhys pa; // its functional translation (== va: code is identity-mapped)
    uint32_t bytes;
    uint32_t instructions;
    bool user;
};

// One execution of a block as the backends see it: its fetch, then its data accesses in order.
struct BlockEvents {
    Fetch fetch;
    std::span<const DataAccess> accesses;
};

// Calls lookup(va, pa) once per 4K page a block spans: its first byte, then each page start
// (code is identity-mapped, so pa follows va). A block within one page (nearly all) is one
// inline call; the loop over several pages is out of line, so that the common case does not pay
// for its stack frame.
template <class Lookup>
[[gnu::noinline]] void for_each_fetch_page_loop(const Fetch& f, Lookup lookup) {
    uint64_t start = f.va.value();
    uint64_t first = start >> 12, last = (start + (f.bytes ? f.bytes - 1 : 0)) >> 12;
    for (uint64_t p = first; p <= last; ++p) {
        uint64_t va = p == first ? start : p << 12;
        lookup(va, f.pa + (va - start));
    }
}
template <class Lookup> inline void for_each_fetch_page(const Fetch& f, Lookup lookup) {
    uint64_t start = f.va.value();
    if (((start ^ (start + (f.bytes ? f.bytes - 1 : 0))) >> 12) == 0) [[likely]]
        return lookup(start, f.pa);
    for_each_fetch_page_loop(f, lookup);
}

// One VM exit as a hypervisor would log it (for `vmmu demo exits`): why, where, what it did.
struct ExitRecord {
    ExitReason reason;
    uint64_t rip = 0;     // guest instruction that caused the exit
    uint64_t address = 0; // faulting gVA, written gPA, new CR3, ... (reason-specific)
    std::string_view action; // "fill", "emulate write", "unsync", "switch root", "reflect #PF", ...
};
using ExitTrace = std::function<void(const ExitRecord&)>;

// What the host did to one guest frame (memory deduplication, engine/mmu/dedup.h).
enum class HostRemap : uint8_t {
    Merged,        // now maps a frame shared read-only with identical frames
    BrokenByWrite, // the guest writes it: copy-on-write gave it a private frame again
    Diverged,      // the host found it changed by a write no backend saw (the emulator setting
                   // A/D bits in a guest page table): a private frame again
};

// What the machine tells a backend when it is created.
struct BackendEnv {
    GuestMemory* memory = nullptr; // read guest tables; watch() page-table frames
    const P2m* p2m = nullptr;
    const HostFrames* host = nullptr; // owners of host frames (isolation check); may be absent
    int vm = 0;                       // this VM's index among the host's VMs
    const Profile* profile = nullptr;
    bool pwc = true;              // page-walk caches
    bool ntlb = true;             // nested TLB (slat)
    unsigned ept_page_shift = 12; // 12, 21 or 30 (slat)
    bool oracle = true;           // check every translation against p2m(functional)
    bool dedup = false;           // the host deduplicates memory (on_host_remap will come)
    std::map<std::string, std::string> options; // scheme options, e.g. shadow "unsync=0"
    uint64_t initial_cr3 = 0;
    uint64_t initial_cr4 = 0;
    ExitTrace exit_trace; // if set, called for every exit (costly: demos and tests only)
};

class Backend {
public:
    virtual ~Backend() = default;
    virtual std::string name() const = 0;

    // Hot path: every data access and every executed block.
    virtual void on_access(const DataAccess& a) = 0;
    virtual void on_fetch(const Fetch& f) = 0;
    // `k` more executions of a loop whose body the backend has just seen run: each execution is,
    // for each block of `body` in order, on_fetch(fetch) and then on_access() of each of its
    // accesses in order, with nothing between them. (The vCPU sends a loop's repeated iterations
    // this way; a body is one block or a few.) The executions match the body page by page: the
    // same blocks, and accesses to the same 4K pages of gVA and gPA, of the same kinds; an
    // access's offset in its page may differ. A backend must count exactly what those calls
    // would; the default makes them.
    virtual void on_loop_repeats(std::span<const BlockEvents> body, uint64_t k) {
        for (; k; --k)
            for (const BlockEvents& b : body) {
                on_fetch(b.fetch);
                for (const DataAccess& a : b.accesses) on_access(a);
            }
    }

    // Guest events (rip: the guest instruction that caused it).
    virtual void on_cr3_write(uint64_t rip, uint64_t new_cr3) = 0;
    virtual void on_cr4_write(uint64_t rip, uint64_t new_cr4) = 0;
    virtual void on_invlpg(uint64_t rip, GuestVirt va) = 0;
    // A write to a watched guest frame (a guest page table), after it was applied.
    virtual void on_pt_write(uint64_t rip, GuestPhys pa, uint64_t old_value, uint64_t new_value,
                             uint8_t size) = 0;
    virtual void on_guest_fault(uint64_t rip, uint8_t vector, GuestVirt cr2,
                                uint32_t error_code) = 0;
    virtual void on_timer(uint64_t rip) = 0;
    virtual void on_syscall(uint64_t rip) = 0;
    virtual void on_hlt(uint64_t rip) = 0;
    virtual void on_io(uint64_t rip, uint16_t port, bool write) = 0;
    // Other instructions a hypervisor may intercept (mov cr0, wrmsr, cpuid, ...).
    virtual void on_sensitive(uint64_t rip, std::string_view mnemonic) = 0;
    // Several VMs (ARCHITECTURE.md): the host scheduler takes the CPU from this VM to run another
    // one, after this VM's quantum. Under a hypervisor that is a VM exit (and later a VM entry).
    virtual void on_world_switch() = 0;
    // The host remapped guest frame `frame` (its p2m entry is already updated): the backend
    // write-protects, repoints or drops what it cached for it, and counts what that costs.
    virtual void on_host_remap(GuestPhys frame, HostRemap what) = 0;

    // Results. cycles() applies the profile's cost model to the counters.
    virtual const BackendCounters& counters() const = 0;
    virtual CycleBreakdown cycles(uint64_t guest_instructions) const = 0;
};

// Thrown when a backend's translation disagrees with the functional one.
struct OracleMismatch : std::runtime_error {
    using std::runtime_error::runtime_error;
};

using BackendFactory = std::function<std::unique_ptr<Backend>(const BackendEnv&)>;

// Name -> factory. Implementations register themselves from their own .cpp with
// `static const bool registered = register_backend("name", factory);` (built as object files,
// so registration survives linking).
bool register_backend(const std::string& name, BackendFactory factory);
std::unique_ptr<Backend> create_backend(const std::string& name, const BackendEnv& env);
std::vector<std::string> backend_names();

} // namespace vmmu
