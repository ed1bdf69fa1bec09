#include "engine/core/vcpu.h"

#include "engine/core/hypervisor.h"
#include "engine/core/qemu_state.h"
#include "engine/core/uc_regs.h"
#include "engine/core/x86.h"
#include "vmmu/abi.h"

#include <fmt/format.h>

#include <exception>
#include <string>

namespace vmmu {
namespace {

constexpr uint64_t kMmioEnd = uint64_t{1} << 47;
// What a read of an unconnected port returns: all ones, like an empty bus.
constexpr uint32_t kEmptyBus = 0xffffffffu;

// Hooks run inside QEMU's C code: nothing may be thrown through it, so each part records a stop
// instead (run_stop.h).
struct Trampolines {
    static void block(uc_engine*, uint64_t addr, uint32_t size, void* user) {
        static_cast<Vcpu*>(user)->on_block(addr, size);
    }
    static void intr(uc_engine*, uint32_t intno, void* user) {
        static_cast<Vcpu*>(user)->on_interrupt(intno);
    }
    static void syscall(uc_engine*, void* user) { static_cast<Vcpu*>(user)->on_syscall(); }
    static void out(uc_engine*, uint32_t port, int, uint32_t value, void* user) {
        static_cast<Vcpu*>(user)->on_out(port, value);
    }
    static uint32_t in(uc_engine*, uint32_t, int, void*) { return kEmptyBus; }
    // Unicorn reports #UD as an invalid instruction instead of an interrupt.
    static bool invalid(uc_engine*, void* user) {
        static_cast<Vcpu*>(user)->on_interrupt(x86::kVecUd);
        return true;
    }
    // Registered only so that Unicorn keeps RIP exact at every memory access (it syncs EIP
    // before loads/stores when a memory hook exists); bound to address 0, never called.
    static void mem_sync(uc_engine*, uc_mem_type, uint64_t, int, int64_t, void*) {}
    // An access outside guest RAM and the MMIO window, or a data access to code memory: record
    // the address for the diagnostic, and let Unicorn stop with its error.
    static bool bad_access(uc_engine*, uc_mem_type type, uint64_t addr, int size, int64_t,
                           void* user) {
        static_cast<Vcpu*>(user)->on_bad_access(type, addr, size);
        return false;
    }
};

void sensitive_hook(uc_engine*, uint64_t, uint32_t, void* user) {
    auto* d = static_cast<SensitiveHookData*>(user);
    d->vcpu->on_sensitive(*d->insn);
}

void cpuid_done_hook(uc_engine*, uint64_t addr, uint32_t, void* user) {
    static_cast<Vcpu*>(user)->on_cpuid_done(addr);
}

} // namespace

Vcpu::Vcpu(GuestMemory& mem, const BootState& boot, const ElfImage& kernel,
           const MachineConfig& config, const std::vector<GuestObserver*>& observers,
           unsigned index, PortShared& shared, CpuBus& bus)
    : mem_(mem), kernel_(kernel), config_(config), index_(index), smp_(config.vcpus > 1),
      clock_(mem, config.timer_period, run_stop_),
      coalescer_(observers, config.coalesce_blocks, run_stop_),
      code_frame_(mem.size() / kPageSize4K, 0),
      data_(mem, config, code_frame_, coalescer_, run_stop_),
      x86_(data_, coalescer_, run_stop_, events_, counters_),
      io_(mem, config, data_, clock_, coalescer_, run_stop_, events_, counters_, shared) {
    io_.bind_cpu(index, &bus);
    qemu_state_offsets(); // calibrate before the first exception needs it
    io_.on_boundary([this](Boundary::Kind kind, const std::string& region, uint64_t at) {
        report_boundary(kind, region, at);
    });
    if (config.sample_period || config.sample_at)
        clock_.set_samples(config.sample_period, config.sample_at, [this](uint64_t at) {
            report_boundary(Boundary::Kind::Sample, "", at);
        });
    for (auto& [b, e] : boot.code_ranges)
        for (uint64_t f = b / kPageSize4K; f < (e + kPageSize4K - 1) / kPageSize4K; ++f)
            code_frame_[f] = 1;

    check_uc(uc_open(UC_ARCH_X86, UC_MODE_64, &uc_.uc), "open");
    uc_engine* uc = uc_.uc;
    run_stop_.bind(uc);
    clock_.bind(uc);
    data_.bind(uc);
    x86_.bind(uc);
    io_.bind(uc);
    // No "until" address: a run stops only through hooks, hlt or errors (docs/UNICORN-2.0.1.md,
    // fact 16).
    check_uc(uc_ctl_exits_enable(uc), "disable until");
    // Guest RAM is execute-only: any data access below G stops with an error
    // (docs/UNICORN-2.0.1.md, fact 6).
    check_uc(uc_mem_map_ptr(uc, 0, mem.size(), UC_PROT_EXEC, mem.data()), "map guest RAM");
    check_uc(uc_mmio_map(uc, data_.window(), kMmioEnd - data_.window(), DataPath::mmio_read, &data_,
                         DataPath::mmio_write, &data_),
             "map MMIO window");

    auto add = [&](int type, void* cb, void* user, uint64_t b, uint64_t e, int insn = -1) {
        uc_hook h;
        uc_err err = insn < 0 ? uc_hook_add(uc, &h, type, cb, user, b, e)
                              : uc_hook_add(uc, &h, type, cb, user, b, e, insn);
        check_uc(err, "hook");
        uc_.hooks.push_back(h);
    };
    add(UC_HOOK_BLOCK, reinterpret_cast<void*>(Trampolines::block), this, 1, 0);
    add(UC_HOOK_INTR, reinterpret_cast<void*>(Trampolines::intr), this, 1, 0);
    add(UC_HOOK_INSN, reinterpret_cast<void*>(Trampolines::syscall), this, 1, 0,
        UC_X86_INS_SYSCALL);
    add(UC_HOOK_INSN, reinterpret_cast<void*>(Trampolines::out), this, 1, 0, UC_X86_INS_OUT);
    add(UC_HOOK_INSN, reinterpret_cast<void*>(Trampolines::in), this, 1, 0, UC_X86_INS_IN);
    add(UC_HOOK_INSN_INVALID, reinterpret_cast<void*>(Trampolines::invalid), this, 1, 0);
    add(UC_HOOK_MEM_UNMAPPED | UC_HOOK_MEM_PROT, reinterpret_cast<void*>(Trampolines::bad_access),
        this, 1, 0);
    add(UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE, reinterpret_cast<void*>(Trampolines::mem_sync), this,
        0, 0);

    for (auto& seg : kernel.segments) {
        if (!seg.exec) continue;
        for (auto& s :
             find_sensitive(kernel.bytes.data() + seg.file_offset, seg.file_size, seg.vaddr))
            sensitive_.push_back(s);
    }
    for (auto& s : sensitive_) {
        hook_data_.push_back({this, &s});
        add(UC_HOOK_CODE, reinterpret_cast<void*>(sensitive_hook), &hook_data_.back(), s.address,
            s.address);
        // CPUID runs natively; the personality's answer is written once it has (on_cpuid_done).
        if (s.kind == SensitiveKind::Cpuid)
            add(UC_HOOK_CODE, reinterpret_cast<void*>(cpuid_done_hook), this, s.address + s.length,
                s.address + s.length);
    }

    // Long mode, paging on, CPL0 (docs/ARCHITECTURE.md "Guest boot").
    uint64_t cr4 = x86::kCr4Pae | x86::kCr4Pge | x86::kCr4Osfxsr | x86::kCr4Osxmmexcpt;
    uc_x86_msr efer{x86::kMsrEfer, x86::kEferSce | x86::kEferLme | x86::kEferLma | x86::kEferNxe};
    uint64_t cr0 =
        x86::kCr0Pg | x86::kCr0Wp | x86::kCr0Pe | x86::kCr0Mp | x86::kCr0Et | x86::kCr0Ne;
    uc_x86_mmr gdtr{0, boot.gdt_base, boot.gdt_limit, 0};
    set_reg(UC_X86_REG_CR4, cr4);
    check_uc(uc_reg_write(uc, UC_X86_REG_MSR, &efer), "efer");
    set_reg(UC_X86_REG_CR3, boot.cr3);
    set_reg(UC_X86_REG_CR0, cr0);
    check_uc(uc_reg_write(uc, UC_X86_REG_GDTR, &gdtr), "gdtr");
    data_.load_cr3(boot.cr3);
    // Selectors only (docs/UNICORN-2.0.1.md, fact 12); iretq checks them against the GDT.
    set_reg(UC_X86_REG_CS, VMMU_SEL_KERNEL_CS);
    for (int seg : {UC_X86_REG_SS, UC_X86_REG_DS, UC_X86_REG_ES}) set_reg(seg, VMMU_SEL_KERNEL_DS);
    set_reg(UC_X86_REG_RSP, boot.rsp);
    set_reg(UC_X86_REG_RDI, boot.rdi);
    set_reg(UC_X86_REG_RIP, boot.entry);
    set_reg(UC_X86_REG_EFLAGS, x86::kRflagsFixed);
}

void Vcpu::start(const Vcpu& from, uint64_t rip, uint64_t rsp) {
    for (int r : {UC_X86_REG_CR0, UC_X86_REG_CR4, UC_X86_REG_CR3, UC_X86_REG_CS, UC_X86_REG_SS,
                  UC_X86_REG_DS, UC_X86_REG_ES, UC_X86_REG_FS, UC_X86_REG_GS})
        set_reg(r, from.reg(r));
    uc_x86_msr efer{x86::kMsrEfer, 0};
    check_uc(uc_reg_read(from.uc_.uc, UC_X86_REG_MSR, &efer), "efer");
    check_uc(uc_reg_write(uc_.uc, UC_X86_REG_MSR, &efer), "efer");
    for (int r : {UC_X86_REG_GDTR, UC_X86_REG_IDTR, UC_X86_REG_TR}) {
        uc_x86_mmr m{};
        check_uc(uc_reg_read(from.uc_.uc, r, &m), "descriptor table");
        check_uc(uc_reg_write(uc_.uc, r, &m), "descriptor table");
    }
    // Segment bases: the selectors' (flat), and no per-CPU base until the kernel sets its own.
    for (uint32_t msr : {x86::kMsrFsBase, x86::kMsrGsBase, x86::kMsrKernelGsBase}) {
        uc_x86_msr m{msr, 0};
        check_uc(uc_reg_write(uc_.uc, UC_X86_REG_MSR, &m), "segment base");
    }
    data_.load_cr3(from.reg(UC_X86_REG_CR3));
    set_reg(UC_X86_REG_RSP, rsp);
    set_reg(UC_X86_REG_RDI, index_);
    set_reg(UC_X86_REG_RIP, rip);
    set_reg(UC_X86_REG_EFLAGS, x86::kRflagsFixed);
}

Vcpu::Unicorn::~Unicorn() {
    for (auto h : hooks) uc_hook_del(uc, h);
    if (uc) uc_close(uc);
}

void Vcpu::on_new_block(uint64_t addr, uint32_t size) {
    uint32_t n = clock_.block_instructions(addr, size);
    if (!clock_.block_may_run(addr, n)) return;
    clock_.enter_block(addr, size, n);
    coalescer_.set_user(X86Events::user_text(addr));
    run_block(addr, size, n);
}

void Vcpu::report_boundary(Boundary::Kind kind, const std::string& region, uint64_t instructions) {
    if (!boundary_) return;
    coalescer_.settle();
    Boundary b{kind, region, counters()};
    b.guest.instructions = instructions;
    // Called from Unicorn hooks: nothing may be thrown through QEMU's C code.
    try {
        boundary_(b);
    } catch (const std::exception& e) {
        run_stop_.stop(StopKind::GuestFault, fmt::format("at a window boundary: {}", e.what()));
    }
}

void Vcpu::on_bad_access(int type, uint64_t addr, int size) {
    const char* what = type == UC_MEM_READ_UNMAPPED || type == UC_MEM_READ_PROT     ? "read"
                       : type == UC_MEM_WRITE_UNMAPPED || type == UC_MEM_WRITE_PROT ? "write"
                                                                                    : "fetch";
    std::string why =
        addr < data_.window()
            ? fmt::format("guest RAM below {:#x} holds code only; data must live at VA >= G",
                          data_.window())
            : fmt::format("outside guest RAM [0, {:#x}) and the MMIO window [{:#x}, 2^47): a "
                          "non-canonical or upper-half pointer?",
                          data_.window(), data_.window());
    run_stop_.stop(StopKind::GuestFault,
                   fmt::format("{}-byte {} at {:#x}: {}", size, what, addr, why));
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
        bool completes = false;
        try {
            completes = io_.completes_hypercall(v);
        } catch (const std::exception& e) {
            run_stop_.stop(StopKind::GuestFault, e.what());
            run_stop_.set_rip(rip);
            return;
        }
        data_.load_cr3(v);
        // The load that completes a Hyper-V hypercall is the hypervisor's part of it: the
        // observers heard the hypercall (PortIo::hyperv_hypercall).
        if (completes) {
            events_.record("cr3 load completing a hypercall (a=value)", clock_.instructions(), rip,
                           v);
            return;
        }
        ++counters_.cr3_writes;
        events_.record("cr3 write (a=value)", clock_.instructions(), rip, v);
        coalescer_.broadcast([&](GuestObserver& b) { b.on_cr3_write(rip, v); });
        return;
    }
    case SensitiveKind::MovToCr4: {
        uint64_t v = operand_value(insn.operand);
        data_.flush_tlb();
        ++counters_.sensitive;
        coalescer_.broadcast([&](GuestObserver& b) { b.on_cr4_write(rip, v); });
        return;
    }
    case SensitiveKind::Invlpg: {
        uint64_t va = operand_value(insn.operand);
        data_.flush_tlb(); // a 2M/1G page may be cached as many 4K entries
        ++counters_.invlpgs;
        coalescer_.broadcast([&](GuestObserver& b) { b.on_invlpg(rip, GuestVirt(va)); });
        return;
    }
    case SensitiveKind::Hlt:
        ++counters_.hlts;
        coalescer_.broadcast([&](GuestObserver& b) { b.on_hlt(rip); });
        return;
    case SensitiveKind::Cpuid: {
        uint32_t leaf = static_cast<uint32_t>(reg(UC_X86_REG_RAX));
        if (personality_leaf(leaf)) {
            cpuid_leaf_ = leaf;
            cpuid_done_at_ = rip + insn.length;
        }
        ++counters_.sensitive;
        coalescer_.broadcast([&](GuestObserver& b) { b.on_sensitive(rip, insn.text); });
        return;
    }
    case SensitiveKind::MovToCr0:
        data_.flush_tlb();
        [[fallthrough]];
    default:
        ++counters_.sensitive;
        coalescer_.broadcast([&](GuestObserver& b) { b.on_sensitive(rip, insn.text); });
    }
}

void Vcpu::on_cpuid_done(uint64_t addr) {
    if (addr != cpuid_done_at_) return; // reached by another path, not right after the CPUID
    cpuid_done_at_ = 0;
    CpuidRegs native{
        static_cast<uint32_t>(reg(UC_X86_REG_RAX)), static_cast<uint32_t>(reg(UC_X86_REG_RBX)),
        static_cast<uint32_t>(reg(UC_X86_REG_RCX)), static_cast<uint32_t>(reg(UC_X86_REG_RDX))};
    CpuidRegs r = answer_cpuid(config_.hypervisor, cpuid_leaf_, native);
    // CPUID zero-extends its 32-bit results into the 64-bit registers.
    set_reg(UC_X86_REG_RAX, r.eax);
    set_reg(UC_X86_REG_RBX, r.ebx);
    set_reg(UC_X86_REG_RCX, r.ecx);
    set_reg(UC_X86_REG_RDX, r.edx);
}

} // namespace vmmu
