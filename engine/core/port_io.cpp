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

void PortIo::emit(const std::string& s, uint64_t stream) {
    shared_.console += s;
    if (stream != VMMU_STREAM_KERNEL) shared_.program_output += s;
    if (config_.echo_console) std::fwrite(s.data(), 1, s.size(), stdout);
}

void PortIo::on_out(uint32_t port, uint32_t value) {
    uint64_t rip = out_rip();
    ++counters_.io_writes;
    if (port == VMMU_PORT_HYPERCALL && value == VMMU_HC_HYPERV) {
        write_reg(uc_, UC_X86_REG_RAX, hyperv_hypercall(rip));
        return;
    }
    // The end marker's boundary falls before its own `out` (and the exit it causes).
    if (port == VMMU_PORT_HYPERCALL && value == VMMU_HC_ROI_END) {
        roi_end(rip, read_reg(uc_, UC_X86_REG_RDI));
        if (stop_.stopped()) return;
    }
    if (port == VMMU_PORT_APIC) {
        apic(rip, value); // observers see an IPI or an EOI rather than a port write
        return;
    }
    coalescer_.broadcast(
        [&](GuestObserver& b) { b.on_io(rip, static_cast<uint16_t>(port), true); });
    if (port == VMMU_PORT_CONSOLE) {
        emit(std::string(1, static_cast<char>(value & 0xff)));
        return;
    }
    if (port != VMMU_PORT_HYPERCALL) return; // other ports: ignored, like an empty bus
    write_reg(uc_, UC_X86_REG_RAX, hypercall(rip, value));
}

uint64_t PortIo::hypercall(uint64_t rip, uint32_t number) {
    uint64_t a0 = read_reg(uc_, UC_X86_REG_RDI), a1 = read_reg(uc_, UC_X86_REG_RSI),
             a2 = read_reg(uc_, UC_X86_REG_R10);
    try {
        switch (number) {
        case VMMU_HC_WRITE:
            emit(data_.read_guest_string(a0, a1), a2);
            break;
        case VMMU_HC_REPORT:
            shared_.reported[data_.read_guest_string(a0, std::min(a1, kMaxReportKey))] = a2;
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
        case VMMU_HC_CLOCK: // the guest's monotonic clock: the VM's instructions before the out
            return clock_.instructions_before(rip) + (bus_ ? bus_->others_instructions(cpu_) : 0);
        case VMMU_HC_START_CPU:
            if (!bus_)
                throw std::runtime_error(
                    fmt::format("start CPU {}: this VM has one vCPU (run with --vcpus N)", a0));
            log_.record("start CPU (a=index)", clock_.instructions(), rip, a0);
            bus_->start_cpu(cpu_, a0, a1, a2);
            break;
        default:
            stop_.stop(StopKind::GuestFault, fmt::format("unknown hypercall {}", number));
        }
    } catch (const std::exception& e) {
        stop_.stop(StopKind::GuestFault, fmt::format("hypercall {}: {}", number, e.what()));
    }
    return 0;
}

// The local-APIC port (abi.h): an IPI or an EOI. Either may make an interrupt deliverable on
// this vCPU (an IPI to itself, an EOI unmasking a pending vector): the run loop looks again
// before the next block.
void PortIo::apic(uint64_t rip, uint32_t value) {
    uint32_t cmd = value >> VMMU_APIC_CMD_SHIFT;
    const uint16_t port = VMMU_PORT_APIC;
    try {
        if (!bus_ && (cmd == VMMU_APIC_IPI || cmd == VMMU_APIC_EOI)) {
            // One vCPU: an EOI has nothing to end (the timer is never in service), a self-IPI
            // is the only IPI there is.
            if (cmd == VMMU_APIC_EOI) {
                coalescer_.broadcast([&](GuestObserver& b) { b.on_eoi(rip, port); });
                return;
            }
            throw std::runtime_error("IPIs need several vCPUs (run with --vcpus N)");
        }
        switch (cmd) {
        case VMMU_APIC_IPI: {
            ++counters_.ipis_sent;
            auto vector = static_cast<uint8_t>(value & 0xff);
            uint32_t dests = bus_->ipi(cpu_, vector, (value >> 8) & 0xff, (value >> 16) & 0x3);
            if (dests)
                coalescer_.broadcast(
                    [&](GuestObserver& b) { b.on_ipi_send(rip, port, vector, dests); });
            else // all-but-self with no other CPU started: a write that reached no one
                coalescer_.broadcast([&](GuestObserver& b) { b.on_io(rip, port, true); });
            break;
        }
        case VMMU_APIC_EOI:
            bus_->eoi(cpu_);
            coalescer_.broadcast([&](GuestObserver& b) { b.on_eoi(rip, port); });
            break;
        default:
            throw std::runtime_error(fmt::format("unknown command {} (valid: {} IPI, {} EOI)", cmd,
                                                 VMMU_APIC_IPI, VMMU_APIC_EOI));
        }
    } catch (const std::exception& e) {
        coalescer_.broadcast([&](GuestObserver& b) { b.on_io(rip, port, true); });
        stop_.stop(StopKind::GuestFault,
                   fmt::format("APIC port, value {:#x}: {}", value, e.what()));
        return;
    }
    clock_.request_interrupt_check();
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
    std::vector<OpenRegion>& open = shared_.open_regions[address_space()];
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
    if (shared_.holders[name]++ == 0 && boundary_)
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
    auto it = shared_.open_regions.find(address_space());
    if (it == shared_.open_regions.end() || it->second.empty()) {
        stop_.stop(
            StopKind::GuestFault,
            fmt::format("program '{}': roi_end() without roi_begin(): no region is open", program));
        stop_.set_rip(rip);
        return;
    }
    std::string name = it->second.back().name;
    it->second.pop_back();
    if (it->second.empty()) shared_.open_regions.erase(it);
    log_.record("region ends", clock_.instructions(), rip);
    if (--shared_.holders[name] == 0 && boundary_)
        boundary_(Boundary::Kind::RegionEnd, name, clock_.instructions_before(rip));
}

// At the guest's exit every region must be closed: a window with no end measures nothing.
bool PortIo::regions_closed() {
    if (shared_.open_regions.empty()) return true;
    const OpenRegion& r = shared_.open_regions.begin()->second.back();
    stop_.stop(StopKind::GuestFault,
               fmt::format("program '{}': region \"{}\" was never closed (call roi_end() before "
                           "the program exits)",
                           r.program, r.name));
    return false;
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
// Flags and ProcessorMask, then (list) the GVA ranges from the rep start index on. The flush
// reaches the processors the mask (or HV_FLUSH_ALL_PROCESSORS) names and is complete when the
// hypercall returns (TLFS): every other target's functional TLB is flushed here, before it runs
// again (CpuBus::hv_flush_targets; a list flushes it whole, conservatively, as invlpg does the
// caller's), and the caller, if named, completes its own part with the `mov cr3` that follows.
// A caller that names itself must name the address space it has loaded; other address spaces,
// and processors the VM does not have, are refused as invalid parameters.
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
    uint64_t mask = words[2];
    bool all = f.flags & VMMU_HV_FLUSH_ALL_PROCESSORS;
    bool self = all || ((mask >> cpu_) & 1);
    uint64_t known = VMMU_HV_FLUSH_ALL_PROCESSORS | VMMU_HV_FLUSH_NON_GLOBAL_ONLY;
    if ((f.flags & ~known) || (self && f.address_space != data_.cr3()) ||
        (list && (f.flags & VMMU_HV_FLUSH_NON_GLOBAL_ONLY)))
        return VMMU_HV_STATUS_INVALID_PARAMETER;
    uint32_t others = 0;
    if (!bus_) {
        if (!all && mask != (1ULL << cpu_)) return VMMU_HV_STATUS_INVALID_PARAMETER;
    } else {
        try {
            others = bus_->hv_flush_targets(cpu_, mask, all, f.address_space);
        } catch (const std::exception&) {
            return VMMU_HV_STATUS_INVALID_PARAMETER;
        }
    }
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
    f.current = self;
    f.vcpus = others | (self ? 1u << cpu_ : 0u);
    log_.record(list ? "HvFlushVirtualAddressList (a=ranges)" : "HvFlushVirtualAddressSpace",
                clock_.instructions(), rip, f.ranges);
    coalescer_.broadcast([&](GuestObserver& b) { b.on_hv_flush(rip, f); });
    if (others) bus_->hv_flush_observers(cpu_, rip, f);
    if (self) awaited_cr3_ = data_.cr3();
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
