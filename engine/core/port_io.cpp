#include "engine/core/port_io.h"

#include "engine/core/sensitive.h"
#include "engine/core/uc_regs.h"
#include "vmmu/abi.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
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

} // namespace vmmu
