// The vCPU's event paths: MMIO data accesses, exception/interrupt delivery, syscall, port I/O
// and sensitive instructions.
#include "engine/core/paging.h"
#include "engine/core/qemu_state.h"
#include "engine/core/vcpu.h"
#include "vmmu/abi.h"

#include <fmt/format.h>

#include <cstdio>
#include <cstring>

namespace vmmu {
namespace {
using x86::kMsrFmask, x86::kMsrLstar, x86::kRflagsIf, x86::kRflagsNt, x86::kRflagsRf,
    x86::kRflagsTf;
static_assert(VMMU_VEC_PF == x86::kVecPf && VMMU_VEC_DF == x86::kVecDf &&
                  VMMU_VEC_GP == x86::kVecGp,
              "the guest ABI's vectors are the architecture's");
constexpr uint64_t kMaxGuestString = 1 << 20;

// One guest data access's bytes (1, 2, 4 or 8 from the MMIO window): fixed-size copies the
// compiler turns into single moves, instead of a call to memcpy with a variable length.
inline void copy_access(void* dst, const void* src, unsigned size) {
    switch (size) {
    case 1:
        std::memcpy(dst, src, 1);
        break;
    case 2:
        std::memcpy(dst, src, 2);
        break;
    case 4:
        std::memcpy(dst, src, 4);
        break;
    case 8:
        std::memcpy(dst, src, 8);
        break;
    default:
        std::memcpy(dst, src, size);
    }
}
} // namespace

std::optional<uint64_t> Vcpu::translate(uint64_t va) {
    uint64_t vpn = va >> 12;
    uint64_t page = ftlb_.lookup(vpn);
    if (page == UINT64_MAX) {
        auto w = x86::walk(x86::cr3_root(cr3_), va, [&](GuestPhys pa) {
            return mem_.contains(pa, 8) ? mem_.read_u64(pa) : 0;
        });
        if (!w.ok || !mem_.contains(w.pa.page_base(), kPageSize4K)) return std::nullopt;
        page = w.pa.page_base().value();
        ftlb_.insert(vpn, page);
    }
    return page | (va & 0xfff);
}

uint64_t Vcpu::translate_miss_or_stop(uint64_t va) {
    if (auto pa = translate(va)) return *pa;
    auto w = x86::walk(x86::cr3_root(cr3_), va,
                       [&](GuestPhys pa) { return mem_.contains(pa, 8) ? mem_.read_u64(pa) : 0; });
    if (w.ok && !mem_.contains(w.pa.page_base(), kPageSize4K)) {
        // Real hardware under a hypervisor: the access misses every EPT/memslot mapping, an EPT
        // violation the hypervisor cannot satisfy (there is no memory to back the gPA).
        stop(StopKind::UnbackedMemory,
             fmt::format("data access to gVA {:#x} reaches gPA {:#x}, beyond the VM's {} MiB of "
                         "guest-physical memory: an EPT violation on unbacked memory that the "
                         "hypervisor cannot satisfy, so the VM stops",
                         va, w.pa.value(), mem_.size() >> 20));
        return UINT64_MAX;
    }
    stop(StopKind::GuestFault,
         fmt::format(
             "data access to {:#x}: QEMU's walk succeeded but the guest's page tables do not "
             "map it to guest memory (a PTE changed without invlpg, or maps beyond {} MiB)",
             va, mem_.size() >> 20));
    return UINT64_MAX;
}

void Vcpu::data_access(uint64_t va, uint64_t gpa, unsigned size, bool write) {
    ++counters_.data_accesses;
    ++(write ? counters_.data_writes : counters_.data_reads);
    if (write && mem_.writes_trapped(GuestPhys(gpa)) && config_.on_shared_write) [[unlikely]]
        if (!break_sharing(gpa)) return;
    if (matching_) {
        if (matches_reference(va, gpa, write)) return;
        end_match();
    }
    if (!backends_.empty()) notify_access(va, gpa, size, write);
}

// A write to a frame the host shares read-only: the host gives the VM a private copy first
// (copy-on-write), so every backend observes the write against the new mapping.
bool Vcpu::break_sharing(uint64_t gpa) {
    settle_blocks(); // the host remaps the frame: the backends see what ran before first
    try {
        config_.on_shared_write(GuestPhys(gpa));
        return true;
    } catch (const OracleMismatch& e) {
        stop(StopKind::OracleMismatch, e.what());
    } catch (const std::exception& e) {
        stop(StopKind::GuestFault,
             fmt::format("host: breaking the sharing of gPA {:#x}: {}", gpa, e.what()));
    }
    return false;
}

// An access sent as it runs; the newest block sent records it (while it can be matched).
void Vcpu::notify_access(uint64_t va, uint64_t gpa, unsigned size, bool write) {
    DataAccess a{GuestVirt(va), GuestPhys(gpa), static_cast<uint8_t>(size), write, user_};
    send_access(a);
    SentBlock& s = sent(0);
    if (s.matchable) {
        if (s.accesses.size() < kMaxRefAccesses)
            s.accesses.push_back(a);
        else
            s.matchable = false;
    }
}

void Vcpu::send_access(const DataAccess& a) {
    try {
        for (GuestObserver* b : backends_) b->on_access(a);
    } catch (const OracleMismatch& e) {
        stop(StopKind::OracleMismatch, e.what());
    }
}

uint64_t Vcpu::on_mmio_read(uint64_t offset, unsigned size) {
    uint64_t va = window_ + offset;
    if ((va & 0xfff) + size > kPageSize4K) { // crosses a page: one byte at a time
        uint64_t v = 0;
        for (unsigned i = 0; i < size; ++i) v |= on_mmio_read(offset + i, 1) << (8 * i);
        return v;
    }
    uint64_t gpa = translate_or_stop(va);
    if (gpa == UINT64_MAX) return 0;
    uint64_t v = 0;
    copy_access(&v, mem_.host_ptr(GuestPhys(gpa)), size);
    data_access(va, gpa, size, false);
    return v;
}

void Vcpu::on_mmio_write(uint64_t offset, unsigned size, uint64_t value) {
    uint64_t va = window_ + offset;
    if ((va & 0xfff) + size > kPageSize4K) {
        for (unsigned i = 0; i < size; ++i) on_mmio_write(offset + i, 1, (value >> (8 * i)) & 0xff);
        return;
    }
    uint64_t gpa = translate_or_stop(va);
    if (gpa == UINT64_MAX) return;
    if (code_frame_[gpa >> 12]) {
        stop(StopKind::GuestFault,
             fmt::format("write to {:#x} lands in code frame {:#x}: guest code is read-only", va,
                         gpa));
        return;
    }
    GuestPhys pa(gpa);
    // Whether the backends hear of this write (watched) depends on their state after everything
    // before it: a loop's counted repeats go first. Only a frame watched before can change its
    // watch while they are sent: they translate the pages their body blocks translated when
    // sent in full, and the page-table frames on those paths were watched then, including any
    // shadowed page zapped or unsynced since. Other frames need no settling.
    if (matching_ && mem_.ever_watched(pa)) [[unlikely]]
        settle_blocks();
    bool watched = mem_.watched(pa);
    uint64_t old = 0;
    if (watched) copy_access(&old, mem_.host_ptr(pa), size);
    copy_access(mem_.host_ptr(pa), &value, size);
    data_access(va, gpa, size, true);
    if (watched) {
        ++counters_.pt_writes;
        uint64_t rip = reg(UC_X86_REG_RIP);
        try {
            broadcast([&](GuestObserver& b) {
                b.on_pt_write(rip, pa, old, value, static_cast<uint8_t>(size));
            });
        } catch (const OracleMismatch& e) {
            stop(StopKind::OracleMismatch, e.what());
        }
    }
}

void Vcpu::read_virt(uint64_t va, void* dst, uint64_t len) {
    auto* out = static_cast<uint8_t*>(dst);
    while (len > 0) {
        uint64_t chunk = std::min(len, kPageSize4K - (va & 0xfff));
        auto pa = translate(va);
        if (!pa) throw std::runtime_error(fmt::format("guest address {:#x} is not mapped", va));
        std::memcpy(out, mem_.host_ptr(GuestPhys(*pa)), chunk);
        va += chunk, out += chunk, len -= chunk;
    }
}

void Vcpu::write_virt(uint64_t va, const void* src, uint64_t len) {
    auto* in = static_cast<const uint8_t*>(src);
    while (len > 0) {
        uint64_t chunk = std::min(len, kPageSize4K - (va & 0xfff));
        auto pa = translate(va);
        if (!pa || code_frame_[*pa >> 12])
            throw std::runtime_error(fmt::format("guest address {:#x} is not writable", va));
        std::memcpy(mem_.host_ptr(GuestPhys(*pa)), in, chunk);
        data_access(va, *pa, static_cast<unsigned>(chunk), true);
        va += chunk, in += chunk, len -= chunk;
    }
}

std::string Vcpu::read_guest_string(uint64_t va, uint64_t len) {
    std::string s(std::min(len, kMaxGuestString), '\0');
    read_virt(va, s.data(), s.size());
    return s;
}

// Delivers an exception or interrupt through the guest IDT as x86-64 does (Intel SDM vol. 3,
// 6.14): 16-byte gate, optional IST, stack switch to TSS.RSP0 when leaving a user program,
// frame SS, RSP, RFLAGS, CS, RIP [, error code]. Returns false (and stops) on a double fault.
bool Vcpu::deliver(uint8_t vector, std::optional<uint32_t> error_code) {
    uint64_t rip = reg(UC_X86_REG_RIP), rsp = reg(UC_X86_REG_RSP);
    uint64_t rflags = reg(UC_X86_REG_EFLAGS);
    bool from_user = user_text(rip);
    user_ = false; // the frame is written by the CPU on the kernel's behalf
    try {
        uc_x86_mmr idtr{};
        uc_reg_read(uc_, UC_X86_REG_IDTR, &idtr);
        if (idtr.limit < uint32_t{vector} * 16 + 15)
            throw std::runtime_error(
                fmt::format("the IDT (limit {:#x}) has no gate for vector {}", idtr.limit, vector));
        uint64_t gate[2];
        read_virt(idtr.base + vector * 16ull, gate, sizeof gate);
        unsigned type = (gate[0] >> 40) & 0xf, ist = (gate[0] >> 32) & 7;
        if (!((gate[0] >> 47) & 1) || (type != 0xe && type != 0xf))
            throw std::runtime_error(fmt::format("IDT gate for vector {} is not a present "
                                                 "interrupt or trap gate",
                                                 vector));
        uint64_t target = (gate[0] & 0xffff) | ((gate[0] >> 32) & 0xffff0000ull) | (gate[1] << 32);
        uint64_t new_rsp = rsp;
        if (ist || from_user) {
            uc_x86_mmr tr{};
            uc_reg_read(uc_, UC_X86_REG_TR, &tr);
            if (tr.limit < 0x67)
                throw std::runtime_error("no 64-bit TSS is loaded (ltr), but the interrupt needs "
                                         "TSS.RSP0/IST to switch stacks");
            read_virt(tr.base + (ist ? 0x24 + 8ull * (ist - 1) : 4), &new_rsp, 8);
        }
        new_rsp &= ~0xfull;
        uint64_t frame[6] = {reg(UC_X86_REG_SS), rsp, rflags, reg(UC_X86_REG_CS), rip, 0};
        int words = 5;
        if (error_code) frame[words++] = *error_code;
        for (int i = 0; i < words; ++i) {
            new_rsp -= 8;
            write_virt(new_rsp, &frame[i], 8);
        }
        uint64_t clear = kRflagsTf | kRflagsNt | kRflagsRf | (type == 0xe ? kRflagsIf : 0);
        set_reg(UC_X86_REG_RSP, new_rsp);
        set_reg(UC_X86_REG_EFLAGS, rflags & ~clear);
        set_reg(UC_X86_REG_RIP, target);
        return true;
    } catch (const std::exception& e) {
        std::string detail = vector == VMMU_VEC_PF
                                 ? fmt::format(" (CR2 {:#x}, error code {:#x})",
                                               reg(UC_X86_REG_CR2), error_code.value_or(0))
                                 : "";
        stop(StopKind::GuestFault,
             fmt::format("triple fault: cannot deliver vector {}{} at RIP {:#x}: {}", vector,
                         detail, rip, e.what()));
        stop_->rip = rip;
        return false;
    }
}

void Vcpu::on_interrupt(uint32_t intno) {
    pending_exception_ = intno;
    uc_emu_stop(uc_);
}

void Vcpu::handle_exception() {
    uint32_t vector = *pending_exception_;
    pending_exception_.reset();
    // Reset QEMU's exception-in-flight state, or the next fault arrives as #DF (FACTS, fact 9).
    uint32_t code = take_exception_state(uc_, scratch_);
    uint64_t rip = reg(UC_X86_REG_RIP);
    ++counters_.exceptions;
    bool pf = vector == VMMU_VEC_PF;
    events_.record(pf ? "page fault (a=cr2 b=error)" : "exception (a=vector b=error)",
                   counters_.instructions, rip, pf ? reg(UC_X86_REG_CR2) : vector, code);
    switch (vector) {
    case VMMU_VEC_PF: {
        uint64_t cr2 = reg(UC_X86_REG_CR2);
        code &= VMMU_PF_P | VMMU_PF_W | VMMU_PF_I | 0x8;
        if (user_text(rip)) code |= VMMU_PF_U;
        ++counters_.page_faults;
        broadcast(
            [&](GuestObserver& b) { b.on_guest_fault(rip, VMMU_VEC_PF, GuestVirt(cr2), code); });
        deliver(VMMU_VEC_PF, code);
        return;
    }
    case VMMU_VEC_DF:
        stop(StopKind::GuestFault, "double fault");
        return;
    case x86::kVecTs:
    case x86::kVecNp:
    case x86::kVecSs:
    case x86::kVecGp:
    case x86::kVecAc:
        static_assert(x86::pushes_error_code(x86::kVecAc)); // these push an error code
        broadcast([&](GuestObserver& b) {
            b.on_guest_fault(rip, static_cast<uint8_t>(vector), GuestVirt(0), code);
        });
        deliver(static_cast<uint8_t>(vector), code);
        return;
    default:
        broadcast([&](GuestObserver& b) {
            b.on_guest_fault(rip, static_cast<uint8_t>(vector), GuestVirt(0), 0);
        });
        deliver(static_cast<uint8_t>(vector), std::nullopt);
    }
}

// SYSCALL as the SDM defines it (vol. 2B): RCX <- next RIP, R11 <- RFLAGS, RFLAGS &= ~FMASK,
// RIP <- LSTAR. Unicorn only calls this hook and then adds 2 to RIP (FACTS, fact 11).
void Vcpu::on_syscall() {
    uint64_t rip = reg(UC_X86_REG_RIP);
    uc_x86_msr lstar{kMsrLstar, 0}, fmask{kMsrFmask, 0};
    uc_reg_read(uc_, UC_X86_REG_MSR, &lstar);
    uc_reg_read(uc_, UC_X86_REG_MSR, &fmask);
    ++counters_.syscalls;
    events_.record("syscall (a=rax)", counters_.instructions, rip, reg(UC_X86_REG_RAX));
    if (lstar.value == 0) {
        stop(StopKind::GuestFault, "syscall with LSTAR unset: the kernel must wrmsr LSTAR first");
        return;
    }
    uint64_t rflags = reg(UC_X86_REG_EFLAGS);
    set_reg(UC_X86_REG_RCX, rip + 2);
    set_reg(UC_X86_REG_R11, rflags);
    set_reg(UC_X86_REG_EFLAGS, rflags & ~fmask.value);
    set_reg(UC_X86_REG_RIP, lstar.value - 2);
    broadcast([&](GuestObserver& b) { b.on_syscall(rip); });
}

namespace {
// OUT imm8/DX with AL or eAX, after operand-size and REX prefixes (SDM vol. 2B, OUT).
bool is_out(const uint8_t* p) {
    size_t i = 0;
    while (i < 4 && (p[i] == 0x66 || (p[i] & 0xf0) == 0x40)) ++i;
    return p[i] == 0xe6 || p[i] == 0xe7 || p[i] == 0xee || p[i] == 0xef;
}
} // namespace

// Unicorn syncs RIP before memory accesses (the memory hook) and on indirect jumps, not before
// an OUT, so RIP here may be an earlier instruction of the block. The OUT is the first one from
// the synced point (or from the block's start) on; OUTs are rare, so decoding here costs nothing.
uint64_t Vcpu::out_rip() const {
    uint64_t synced = reg(UC_X86_REG_RIP);
    if (!last_block_valid_) return synced;
    uint64_t end = last_block_ + last_block_size_;
    uint64_t at = synced >= last_block_ && synced < end ? synced : last_block_;
    while (at < end && mem_.contains(GuestPhys(at), end - at)) {
        const uint8_t* p = mem_.host_ptr(GuestPhys(at));
        if (mem_.contains(GuestPhys(at), 5) && is_out(p)) return at;
        uint32_t n = instruction_length(p, end - at, at);
        if (n == 0) break;
        at += n;
    }
    return synced;
}

void Vcpu::on_out(uint32_t port, int size, uint32_t value) {
    uint64_t rip = out_rip();
    ++counters_.io_writes;
    broadcast([&](GuestObserver& b) { b.on_io(rip, static_cast<uint16_t>(port), true); });
    auto emit = [&](const std::string& s) {
        console_ += s;
        if (config_.echo_console) std::fwrite(s.data(), 1, s.size(), stdout);
    };
    if (port == VMMU_PORT_CONSOLE) {
        emit(std::string(1, static_cast<char>(value & 0xff)));
        return;
    }
    if (port != VMMU_PORT_HYPERCALL) return; // other ports: ignored, like an empty bus
    uint64_t a0 = reg(UC_X86_REG_RDI), a1 = reg(UC_X86_REG_RSI), a2 = reg(UC_X86_REG_R10);
    try {
        switch (value) {
        case VMMU_HC_WRITE:
            emit(read_guest_string(a0, a1));
            break;
        case VMMU_HC_REPORT:
            reported_[read_guest_string(a0, std::min<uint64_t>(a1, 256))] = a2;
            break;
        case VMMU_HC_PANIC:
            events_.record("panic hypercall", counters_.instructions, rip);
            stop(StopKind::Panic,
                 "guest panic: " + read_guest_string(a0, std::min<uint64_t>(a1, 4096)));
            stop_->rip = rip;
            break;
        case VMMU_HC_EXIT:
            stop(StopKind::Exited, "", static_cast<int>(a0));
            break;
        default:
            stop(StopKind::GuestFault, fmt::format("unknown hypercall {}", value));
        }
    } catch (const std::exception& e) {
        stop(StopKind::GuestFault, fmt::format("hypercall {}: {}", value, e.what()));
    }
    set_reg(UC_X86_REG_RAX, 0);
}

void Vcpu::on_sensitive(const SensitiveInsn& insn) {
    uint64_t rip = insn.address;
    auto operand_value = [&](const OperandRef& o) -> uint64_t {
        if (o.reg) return reg(o.reg);
        uint64_t ea = static_cast<uint64_t>(o.disp);
        if (o.rip_relative) return rip + insn.length + ea;
        if (o.base) ea += reg(o.base);
        if (o.index) ea += reg(o.index) * static_cast<uint64_t>(o.scale);
        return ea;
    };
    switch (insn.kind) {
    case SensitiveKind::MovToCr3: {
        uint64_t v = operand_value(insn.operand);
        cr3_ = v;
        ftlb_.flush();
        ++counters_.cr3_writes;
        events_.record("cr3 write (a=value)", counters_.instructions, rip, v);
        broadcast([&](GuestObserver& b) { b.on_cr3_write(rip, v); });
        return;
    }
    case SensitiveKind::MovToCr4: {
        uint64_t v = operand_value(insn.operand);
        ftlb_.flush();
        ++counters_.sensitive;
        broadcast([&](GuestObserver& b) { b.on_cr4_write(rip, v); });
        return;
    }
    case SensitiveKind::Invlpg: {
        uint64_t va = operand_value(insn.operand);
        ftlb_.flush(); // a 2M/1G page may be cached as many 4K entries
        ++counters_.invlpgs;
        broadcast([&](GuestObserver& b) { b.on_invlpg(rip, GuestVirt(va)); });
        return;
    }
    case SensitiveKind::Hlt:
        ++counters_.hlts;
        broadcast([&](GuestObserver& b) { b.on_hlt(rip); });
        return;
    case SensitiveKind::MovToCr0:
        ftlb_.flush();
        [[fallthrough]];
    default:
        ++counters_.sensitive;
        broadcast([&](GuestObserver& b) { b.on_sensitive(rip, insn.text); });
    }
}

} // namespace vmmu
