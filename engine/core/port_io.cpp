#include "engine/core/port_io.h"

#include "engine/core/guest_events.h"
#include "engine/core/sensitive.h"
#include "engine/core/uc_regs.h"
#include "vmmu/abi.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <exception>

namespace vmmu {
namespace {
// Bytes enough to recognise an OUT after its prefixes.
constexpr uint64_t kOutBytes = 5;
// The longest key a report hypercall may name, and the longest panic message.
constexpr uint64_t kMaxReportKey = 256, kMaxPanicMessage = 4096;

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
uint64_t PortIo::out_rip() const {
    uint64_t synced = read_reg(uc_, UC_X86_REG_RIP);
    if (!clock_.last_block_valid()) return synced;
    uint64_t block = clock_.last_block(), end = block + clock_.last_block_size();
    uint64_t at = synced >= block && synced < end ? synced : block;
    while (at < end && mem_.contains(GuestPhys(at), end - at)) {
        const uint8_t* p = mem_.host_ptr(GuestPhys(at));
        if (mem_.contains(GuestPhys(at), kOutBytes) && is_out(p)) return at;
        uint32_t n = instruction_length(p, end - at, at);
        if (n == 0) break;
        at += n;
    }
    return synced;
}

void PortIo::emit(const std::string& s) {
    console_ += s;
    if (config_.echo_console) std::fwrite(s.data(), 1, s.size(), stdout);
}

void PortIo::on_out(uint32_t port, uint32_t value) {
    uint64_t rip = out_rip();
    ++counters_.io_writes;
    if (port == VMMU_PORT_HYPERCALL && value == VMMU_HC_HYPERV) {
        write_reg(uc_, UC_X86_REG_RAX, hyperv_hypercall(rip));
        return;
    }
    coalescer_.broadcast(
        [&](GuestObserver& b) { b.on_io(rip, static_cast<uint16_t>(port), true); });
    if (port == VMMU_PORT_CONSOLE) {
        emit(std::string(1, static_cast<char>(value & 0xff)));
        return;
    }
    if (port != VMMU_PORT_HYPERCALL) return; // other ports: ignored, like an empty bus
    hypercall(rip, value);
    write_reg(uc_, UC_X86_REG_RAX, 0);
}

void PortIo::hypercall(uint64_t rip, uint32_t number) {
    uint64_t a0 = read_reg(uc_, UC_X86_REG_RDI), a1 = read_reg(uc_, UC_X86_REG_RSI),
             a2 = read_reg(uc_, UC_X86_REG_R10);
    try {
        switch (number) {
        case VMMU_HC_WRITE:
            emit(data_.read_guest_string(a0, a1));
            break;
        case VMMU_HC_REPORT:
            reported_[data_.read_guest_string(a0, std::min(a1, kMaxReportKey))] = a2;
            break;
        case VMMU_HC_PANIC:
            log_.record("panic hypercall", clock_.instructions(), rip);
            stop_.stop(StopKind::Panic, "guest panic: " + data_.read_guest_string(
                                                              a0, std::min(a1, kMaxPanicMessage)));
            stop_.set_rip(rip);
            break;
        case VMMU_HC_EXIT:
            stop_.stop(StopKind::Exited, "", static_cast<int>(a0));
            break;
        default:
            stop_.stop(StopKind::GuestFault, fmt::format("unknown hypercall {}", number));
        }
    } catch (const std::exception& e) {
        stop_.stop(StopKind::GuestFault, fmt::format("hypercall {}: {}", number, e.what()));
    }
}

uint64_t PortIo::hyperv_hypercall(uint64_t rip) {
    uint64_t input = read_reg(uc_, UC_X86_REG_RDI), param = read_reg(uc_, UC_X86_REG_RSI);
    // Another personality has no Hyper-V hypercalls: the call code is invalid (TLFS).
    if (config_.hypervisor != Hypervisor::HyperV) return VMMU_HV_STATUS_INVALID_CODE;
    uint64_t code = input & 0xffff;
    bool fast = input & VMMU_HV_FAST;
    if (code == VMMU_HV_CALL_SWITCH_AS) {
        uint64_t cr3 = param;
        if (!fast) {
            if (!mem_.contains(GuestPhys(param), 8)) return VMMU_HV_STATUS_INVALID_PARAMETER;
            std::memcpy(&cr3, mem_.host_ptr(GuestPhys(param)), 8);
        }
        log_.record("HvSwitchVirtualAddressSpace (a=cr3)", clock_.instructions(), rip, cr3);
        coalescer_.broadcast([&](GuestObserver& b) { b.on_hv_switch_as(rip, cr3); });
        awaited_cr3_ = cr3;
        return 0;
    }
    if ((code == VMMU_HV_CALL_FLUSH_SPACE || code == VMMU_HV_CALL_FLUSH_LIST) && !fast)
        return hyperv_flush(rip, input, param);
    return VMMU_HV_STATUS_INVALID_CODE;
}

// HvFlushVirtualAddressSpace / HvFlushVirtualAddressList: the input page holds AddressSpace,
// Flags and ProcessorMask, then (list) the GVA ranges from the rep start index on. vmmu's guest
// has one processor and flushes only the address space it has loaded; anything else is refused
// as an invalid parameter rather than modelled.
uint64_t PortIo::hyperv_flush(uint64_t rip, uint64_t input, uint64_t in_gpa) {
    bool list = (input & 0xffff) == VMMU_HV_CALL_FLUSH_LIST;
    uint64_t reps = list ? (input >> VMMU_HV_REP_COUNT_SHIFT) & 0xfff : 0;
    uint64_t start = list ? (input >> VMMU_HV_REP_START_SHIFT) & 0xfff : 0;
    uint64_t bytes = VMMU_HV_FLUSH_HEADER_BYTES + 8 * reps;
    // The input must lie in one page, 8-byte aligned (TLFS, "Hypercall Inputs").
    if ((in_gpa & 7) || (in_gpa & (kPageSize4K - 1)) + bytes > kPageSize4K ||
        !mem_.contains(GuestPhys(in_gpa), bytes) || start > reps)
        return VMMU_HV_STATUS_INVALID_PARAMETER;
    uint64_t words[3];
    std::memcpy(words, mem_.host_ptr(GuestPhys(in_gpa)), sizeof words);
    HvFlush f;
    f.address_space = words[0];
    f.flags = words[1];
    f.whole_space = !list;
    uint64_t known = VMMU_HV_FLUSH_ALL_PROCESSORS | VMMU_HV_FLUSH_NON_GLOBAL_ONLY;
    if ((f.flags & ~known) || f.address_space != data_.cr3() ||
        (list && (f.flags & VMMU_HV_FLUSH_NON_GLOBAL_ONLY)))
        return VMMU_HV_STATUS_INVALID_PARAMETER;
    hv_pages_.clear();
    for (uint64_t i = start; i < reps; ++i) {
        uint64_t gva;
        std::memcpy(&gva, mem_.host_ptr(GuestPhys(in_gpa + VMMU_HV_FLUSH_HEADER_BYTES + 8 * i)), 8);
        uint64_t page = gva & ~VMMU_HV_GVA_EXTRA_PAGES;
        for (uint64_t k = 0; k <= (gva & VMMU_HV_GVA_EXTRA_PAGES); ++k)
            hv_pages_.push_back(GuestVirt(page + k * kPageSize4K));
    }
    f.ranges = reps - start;
    f.pages = hv_pages_;
    log_.record(list ? "HvFlushVirtualAddressList (a=ranges)" : "HvFlushVirtualAddressSpace",
                clock_.instructions(), rip, f.ranges);
    coalescer_.broadcast([&](GuestObserver& b) { b.on_hv_flush(rip, f); });
    awaited_cr3_ = data_.cr3();
    return list ? reps << VMMU_HV_REP_COUNT_SHIFT : 0;
}

bool PortIo::completes_hypercall(uint64_t cr3) {
    if (!awaited_cr3_) return false;
    uint64_t want = *awaited_cr3_;
    awaited_cr3_.reset();
    if (cr3 != want)
        throw std::runtime_error(
            fmt::format("mov cr3 {:#x} after a Hyper-V hypercall that left {:#x} loaded: the "
                        "guest must complete the hypercall with the address space it named",
                        cr3, want));
    return true;
}

} // namespace vmmu
