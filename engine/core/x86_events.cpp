#include "engine/core/x86_events.h"

#include "engine/core/qemu_state.h"
#include "engine/core/uc_regs.h"
#include "engine/core/x86.h"
#include "vmmu/abi.h"

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace vmmu {
namespace {
using x86::kMsrFmask, x86::kMsrLstar, x86::kRflagsIf, x86::kRflagsNt, x86::kRflagsRf,
    x86::kRflagsTf;
static_assert(VMMU_VEC_PF == x86::kVecPf && VMMU_VEC_DF == x86::kVecDf &&
                  VMMU_VEC_GP == x86::kVecGp,
              "the guest ABI's vectors are the architecture's");
} // namespace

X86Events::X86Events(DataPath& data, LoopCoalescer& coalescer, RunStop& stop, EventLog& log,
                     GuestCounters& counters)
    : data_(data), coalescer_(coalescer), stop_(stop), log_(log), counters_(counters) {}

X86Events::~X86Events() {
    if (scratch_) uc_context_free(scratch_);
}

void X86Events::bind(uc_engine* uc) {
    uc_ = uc;
    check_uc(uc_context_alloc(uc_, &scratch_), "context");
}

uint64_t X86Events::reg(int id) const { return read_reg(uc_, id); }

void X86Events::set_reg(int id, uint64_t v) { write_reg(uc_, id, v); }

// Delivers an exception or interrupt through the guest IDT as x86-64 does (Intel SDM vol. 3,
// 6.14): 16-byte gate, optional IST, stack switch to TSS.RSP0 when leaving a user program,
// frame SS, RSP, RFLAGS, CS, RIP [, error code]. Returns false (and stops) on a double fault.
bool X86Events::deliver(uint8_t vector, std::optional<uint32_t> error_code) {
    uint64_t rip = reg(UC_X86_REG_RIP), rsp = reg(UC_X86_REG_RSP);
    uint64_t rflags = reg(UC_X86_REG_EFLAGS);
    bool from_user = user_text(rip);
    coalescer_.set_user(false); // the frame is written by the CPU on the kernel's behalf
    try {
        uc_x86_mmr idtr{};
        uc_reg_read(uc_, UC_X86_REG_IDTR, &idtr);
        if (idtr.limit < uint32_t{vector} * 16 + 15)
            throw std::runtime_error(
                fmt::format("the IDT (limit {:#x}) has no gate for vector {}", idtr.limit, vector));
        uint64_t gate[2];
        data_.read_virt(idtr.base + vector * 16ull, gate, sizeof gate);
        unsigned type = (gate[0] >> 40) & 0xf, ist = (gate[0] >> 32) & 7;
        if (!((gate[0] >> 47) & 1) || (type != x86::kGateInterrupt && type != x86::kGateTrap))
            throw std::runtime_error(fmt::format("IDT gate for vector {} is not a present "
                                                 "interrupt or trap gate",
                                                 vector));
        uint64_t target = (gate[0] & 0xffff) | ((gate[0] >> 32) & 0xffff0000ull) | (gate[1] << 32);
        uint64_t new_rsp = rsp;
        if (ist || from_user) {
            uc_x86_mmr tr{};
            uc_reg_read(uc_, UC_X86_REG_TR, &tr);
            if (tr.limit < x86::kTssMinLimit)
                throw std::runtime_error("no 64-bit TSS is loaded (ltr), but the interrupt needs "
                                         "TSS.RSP0/IST to switch stacks");
            data_.read_virt(tr.base + (ist ? x86::kTssIst1 + 8ull * (ist - 1) : x86::kTssRsp0),
                            &new_rsp, 8);
        }
        new_rsp &= ~0xfull;
        uint64_t frame[6] = {reg(UC_X86_REG_SS), rsp, rflags, reg(UC_X86_REG_CS), rip, 0};
        int words = 5;
        if (error_code) frame[words++] = *error_code;
        for (int i = 0; i < words; ++i) {
            new_rsp -= 8;
            data_.write_virt(new_rsp, &frame[i], 8);
        }
        uint64_t clear =
            kRflagsTf | kRflagsNt | kRflagsRf | (type == x86::kGateInterrupt ? kRflagsIf : 0);
        set_reg(UC_X86_REG_RSP, new_rsp);
        set_reg(UC_X86_REG_EFLAGS, rflags & ~clear);
        set_reg(UC_X86_REG_RIP, target);
        return true;
    } catch (const std::exception& e) {
        std::string detail = vector == VMMU_VEC_PF
                                 ? fmt::format(" (CR2 {:#x}, error code {:#x})",
                                               reg(UC_X86_REG_CR2), error_code.value_or(0))
                                 : "";
        stop_.stop(StopKind::GuestFault,
                   fmt::format("triple fault: cannot deliver vector {}{} at RIP {:#x}: {}", vector,
                               detail, rip, e.what()));
        stop_.set_rip(rip);
        return false;
    }
}

void X86Events::on_interrupt(uint32_t intno) {
    pending_ = intno;
    stop_.halt_emulation();
}

void X86Events::handle_exception(uint64_t instructions) {
    uint32_t vector = *pending_;
    pending_.reset();
    // Reset QEMU's exception-in-flight state, or the next fault arrives as #DF
    // (docs/UNICORN-2.0.1.md, fact 9).
    uint32_t code = take_exception_state(uc_, scratch_);
    uint64_t rip = reg(UC_X86_REG_RIP);
    ++counters_.exceptions;
    bool pf = vector == VMMU_VEC_PF;
    log_.record(pf ? "page fault (a=cr2 b=error)" : "exception (a=vector b=error)", instructions,
                rip, pf ? reg(UC_X86_REG_CR2) : vector, code);
    switch (vector) {
    case VMMU_VEC_PF: {
        uint64_t cr2 = reg(UC_X86_REG_CR2);
        code &= VMMU_PF_P | VMMU_PF_W | VMMU_PF_I | x86::kPfRsvd;
        if (user_text(rip)) code |= VMMU_PF_U;
        ++counters_.page_faults;
        coalescer_.broadcast(
            [&](GuestObserver& b) { b.on_guest_fault(rip, VMMU_VEC_PF, GuestVirt(cr2), code); });
        deliver(VMMU_VEC_PF, code);
        return;
    }
    case VMMU_VEC_DF:
        stop_.stop(StopKind::GuestFault, "double fault");
        return;
    case x86::kVecTs:
    case x86::kVecNp:
    case x86::kVecSs:
    case x86::kVecGp:
    case x86::kVecAc:
        static_assert(x86::pushes_error_code(x86::kVecAc)); // these push an error code
        coalescer_.broadcast([&](GuestObserver& b) {
            b.on_guest_fault(rip, static_cast<uint8_t>(vector), GuestVirt(0), code);
        });
        deliver(static_cast<uint8_t>(vector), code);
        return;
    default:
        coalescer_.broadcast([&](GuestObserver& b) {
            b.on_guest_fault(rip, static_cast<uint8_t>(vector), GuestVirt(0), 0);
        });
        deliver(static_cast<uint8_t>(vector), std::nullopt);
    }
}

// SYSCALL as the SDM defines it (vol. 2B): RCX <- next RIP, R11 <- RFLAGS, RFLAGS &= ~FMASK,
// RIP <- LSTAR. Unicorn only calls this hook and then adds 2 to RIP (docs/UNICORN-2.0.1.md, fact
// 11).
void X86Events::on_syscall(uint64_t instructions) {
    uint64_t rip = reg(UC_X86_REG_RIP);
    uc_x86_msr lstar{kMsrLstar, 0}, fmask{kMsrFmask, 0};
    uc_reg_read(uc_, UC_X86_REG_MSR, &lstar);
    uc_reg_read(uc_, UC_X86_REG_MSR, &fmask);
    ++counters_.syscalls;
    log_.record("syscall (a=rax)", instructions, rip, reg(UC_X86_REG_RAX));
    if (lstar.value == 0) {
        stop_.stop(StopKind::GuestFault,
                   "syscall with LSTAR unset: the kernel must wrmsr LSTAR first");
        return;
    }
    uint64_t rflags = reg(UC_X86_REG_EFLAGS);
    set_reg(UC_X86_REG_RCX, rip + 2);
    set_reg(UC_X86_REG_R11, rflags);
    set_reg(UC_X86_REG_EFLAGS, rflags & ~fmask.value);
    set_reg(UC_X86_REG_RIP, lstar.value - 2);
    coalescer_.broadcast([&](GuestObserver& b) { b.on_syscall(rip); });
}

} // namespace vmmu
