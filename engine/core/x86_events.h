// x86 event delivery: what the CPU does on an exception, an interrupt or a syscall, done by the
// engine because Unicorn never does it.
//
// Unicorn 2.0.1 never vectors through the guest IDT (docs/UNICORN-2.0.1.md, fact 8): an exception
// only reaches UC_HOOK_INTR. The hook records the vector and stops emulation; the run loop then
// calls handle_exception(), which resets QEMU's exception-in-flight state (else the second #PF
// arrives as #DF, fact 9; engine/core/qemu_state.*), reads the #PF error code and CR2, tells the
// observers, and deliver()s the frame through the guest IDT as x86-64 does (gate, IST, TSS.RSP0,
// SS:RSP, RFLAGS, CS:RIP, error code) so the kernel returns with its own iretq (fact 10). The
// timer interrupt takes the same deliver(). syscall is implemented as the SDM defines it, since
// Unicorn only calls the hook and adds 2 to RIP (fact 11).
#pragma once

#include "engine/core/data_path.h"
#include "engine/core/event_log.h"
#include "engine/core/loop_coalescer.h"
#include "engine/core/machine.h"
#include "engine/core/run_stop.h"
#include "vmmu/abi.h"

#include <unicorn/unicorn.h>

#include <cstdint>
#include <optional>

namespace vmmu {

class X86Events {
public:
    X86Events(DataPath& data, LoopCoalescer& coalescer, RunStop& stop, EventLog& log,
              GuestCounters& counters);
    ~X86Events();
    X86Events(const X86Events&) = delete;
    X86Events& operator=(const X86Events&) = delete;
    void bind(uc_engine* uc); // allocates the context handle_exception() saves QEMU's state in

    // Whether `rip` is in a user program's text: the guest runs at CPL0 throughout, so user mode
    // is told apart by address (docs/ARCHITECTURE.md, "Functional layer").
    // Inline: the block hook asks for every new block.
    static bool user_text(uint64_t rip) {
        return rip >= VMMU_PROG_TEXT_BASE && rip < VMMU_CODE_END;
    }

    // UC_HOOK_INTR (and #UD): remember the vector and stop; the run loop handles it.
    void on_interrupt(uint32_t intno);
    bool exception_pending() const { return pending_.has_value(); }
    // After the run stopped on an exception: count it, tell the observers, deliver it.
    void handle_exception(uint64_t instructions);
    // Pushes an interrupt frame and enters the handler of `vector`; false (and the run stops
    // with a triple fault) when the guest's IDT or TSS cannot take it.
    bool deliver(uint8_t vector, std::optional<uint32_t> error_code);
    // UC_HOOK_INSN syscall.
    void on_syscall(uint64_t instructions);

private:
    uint64_t reg(int id) const;
    void set_reg(int id, uint64_t v);

    DataPath& data_;
    LoopCoalescer& coalescer_;
    RunStop& stop_;
    EventLog& log_;
    GuestCounters& counters_;
    uc_engine* uc_ = nullptr;
    uc_context* scratch_ = nullptr;
    std::optional<uint32_t> pending_;
};

} // namespace vmmu
