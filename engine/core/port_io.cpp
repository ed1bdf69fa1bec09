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
// Regions nest one level deep at most: an outer region and one inside it.
constexpr size_t kMaxRegionDepth = 2;
// The longest program name a region marker passes (workloads/include/vmmu/abi.h).
constexpr uint64_t kMaxProgramName = 64;

bool valid_region_name(const std::string& s) {
    // "whole" and "roi" name the engine's own windows (engine/experiment/windows.h).
    if (s.empty() || s.size() > VMMU_ROI_NAME_MAX || s == "whole" || s == "roi") return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '.' || c == '-';
    });
}

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
    // The end marker's boundary falls before its own `out` (and the exit it causes).
    if (port == VMMU_PORT_HYPERCALL && value == VMMU_HC_ROI_END) {
        roi_end(rip, read_reg(uc_, UC_X86_REG_RDI));
        if (stop_.stopped()) return;
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
            if (regions_closed()) stop_.stop(StopKind::Exited, "", static_cast<int>(a0));
            break;
        case VMMU_HC_ROI_BEGIN:
            roi_begin(rip, a0, a1, a2);
            break;
        case VMMU_HC_ROI_END: // handled before the broadcast (on_out)
            break;
        default:
            stop_.stop(StopKind::GuestFault, fmt::format("unknown hypercall {}", number));
        }
    } catch (const std::exception& e) {
        stop_.stop(StopKind::GuestFault, fmt::format("hypercall {}: {}", number, e.what()));
    }
}

// A process is its address space: CR3 without its PCID or flag bits.
uint64_t PortIo::address_space() const {
    return read_reg(uc_, UC_X86_REG_CR3) & ~(kPageSize4K - 1);
}

std::string PortIo::guest_cstring(uint64_t va) {
    if (va == 0) return "?";
    // Up to the end of its page first: the name may sit just below an unmapped page (argv[0] at
    // the top of the user stack).
    uint64_t in_page = kPageSize4K - (va & (kPageSize4K - 1));
    std::string s = data_.read_guest_string(va, std::min(in_page, kMaxProgramName));
    if (s.find('\0') == std::string::npos && in_page < kMaxProgramName)
        s += data_.read_guest_string(va + in_page, kMaxProgramName - in_page);
    return s.substr(0, s.find('\0'));
}

// The begin marker's boundary falls after its own `out` (and the exit it causes).
void PortIo::roi_begin(uint64_t rip, uint64_t name_va, uint64_t name_len, uint64_t program_va) {
    std::string program = guest_cstring(program_va);
    std::string name = data_.read_guest_string(name_va, std::min<uint64_t>(name_len, 256));
    auto fail = [&](const std::string& why) {
        stop_.stop(StopKind::GuestFault, fmt::format("program '{}': {}", program, why));
        stop_.set_rip(rip);
    };
    if (!valid_region_name(name))
        return fail(fmt::format(
            "roi_begin(\"{}\"): a region name is 1 to {} characters of "
            "A-Z a-z 0-9 _ . - and neither \"whole\" nor \"roi\" (the engine's own windows)",
            name.substr(0, 80), VMMU_ROI_NAME_MAX));
    std::vector<OpenRegion>& open = open_regions_[address_space()];
    for (auto& r : open)
        if (r.name == name)
            return fail(fmt::format("roi_begin(\"{}\"): region \"{}\" is already open (opened "
                                    "by program '{}'); call roi_end() first",
                                    name, name, r.program));
    if (open.size() >= kMaxRegionDepth)
        return fail(fmt::format("roi_begin(\"{}\"): regions nest one level at most, and \"{}\" "
                                "is already open inside \"{}\"",
                                name, open.back().name, open.front().name));
    open.push_back({name, program});
    log_.record("region begins", clock_.instructions(), rip);
    if (holders_[name]++ == 0 && boundary_)
        boundary_(Boundary::Kind::RegionBegin, name, clock_.instructions_before(rip) + 1);
}

void PortIo::roi_end(uint64_t rip, uint64_t program_va) {
    std::string program;
    try {
        program = guest_cstring(program_va);
    } catch (const std::exception& e) {
        stop_.stop(StopKind::GuestFault, fmt::format("roi_end: {}", e.what()));
        return;
    }
    auto it = open_regions_.find(address_space());
    if (it == open_regions_.end() || it->second.empty()) {
        stop_.stop(
            StopKind::GuestFault,
            fmt::format("program '{}': roi_end() without roi_begin(): no region is open", program));
        stop_.set_rip(rip);
        return;
    }
    std::string name = it->second.back().name;
    it->second.pop_back();
    if (it->second.empty()) open_regions_.erase(it);
    log_.record("region ends", clock_.instructions(), rip);
    if (--holders_[name] == 0 && boundary_)
        boundary_(Boundary::Kind::RegionEnd, name, clock_.instructions_before(rip));
}

// At the guest's exit every region must be closed: a window with no end measures nothing.
bool PortIo::regions_closed() {
    if (open_regions_.empty()) return true;
    const OpenRegion& r = open_regions_.begin()->second.back();
    stop_.stop(StopKind::GuestFault,
               fmt::format("program '{}': region \"{}\" was never closed (call roi_end() before "
                           "the program exits)",
                           r.program, r.name));
    return false;
}

} // namespace vmmu
