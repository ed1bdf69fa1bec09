#include "engine/core/data_path.h"

#include "engine/core/paging.h"
#include "engine/core/uc_regs.h"
#include "vmmu/abi.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace vmmu {
namespace {
constexpr uint64_t kMaxGuestString = 1 << 20;
constexpr uint64_t kPageOffsetMask = kPageSize4K - 1;

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

DataPath::DataPath(GuestMemory& mem, const MachineConfig& config,
                   const std::vector<uint8_t>& code_frame, LoopCoalescer& coalescer, RunStop& stop)
    : mem_(mem), config_(config), code_frame_(code_frame), coalescer_(coalescer), stop_(stop),
      window_(mem.size()),
      window_end_(config.guest_levels == 5 ? VMMU_LA57_HIGH + (uint64_t{1} << 47)
                                           : uint64_t{1} << 47),
      levels_(config.guest_levels) {}

std::optional<uint64_t> DataPath::translate(uint64_t va) {
    uint64_t vpn = va >> kPageShift4K;
    uint64_t page = ftlb_.lookup(vpn);
    if (page == UINT64_MAX) {
        auto w = x86::walk(
            x86::cr3_root(cr3_), va,
            [&](GuestPhys pa) { return mem_.contains(pa, 8) ? mem_.read_u64(pa) : 0; }, levels_);
        if (!w.ok || !mem_.contains(w.pa.page_base(), kPageSize4K)) return std::nullopt;
        page = w.pa.page_base().value();
        ftlb_.insert(vpn, page);
    }
    return page | (va & kPageOffsetMask);
}

uint64_t DataPath::translate_miss_or_stop(uint64_t va) {
    if (auto pa = translate(va)) return *pa;
    auto w = x86::walk(
        x86::cr3_root(cr3_), va,
        [&](GuestPhys pa) { return mem_.contains(pa, 8) ? mem_.read_u64(pa) : 0; }, levels_);
    if (w.ok && !mem_.contains(w.pa.page_base(), kPageSize4K)) {
        // Real hardware under a hypervisor: the access misses every EPT/memslot mapping, an EPT
        // violation the hypervisor cannot satisfy (there is no memory to back the gPA).
        stop_.stop(
            StopKind::UnbackedMemory,
            fmt::format("data access to gVA {:#x} reaches gPA {:#x}, beyond the VM's {} MiB of "
                        "guest-physical memory: an EPT violation on unbacked memory that the "
                        "hypervisor cannot satisfy, so the VM stops",
                        va, w.pa.value(), mem_.size() >> 20));
        return UINT64_MAX;
    }
    stop_.stop(StopKind::GuestFault,
               fmt::format(
                   "data access to {:#x}: QEMU's walk succeeded but the guest's page tables do not "
                   "map it to guest memory (a PTE changed without invlpg, or maps beyond {} MiB)",
                   va, mem_.size() >> 20));
    return UINT64_MAX;
}

void DataPath::data_access(uint64_t va, uint64_t gpa, unsigned size, bool write) {
    ++accesses_;
    ++(write ? writes_ : reads_);
    if (write && mem_.writes_trapped(GuestPhys(gpa)) && config_.on_shared_write) [[unlikely]]
        if (!break_sharing(gpa)) return;
    coalescer_.access(va, gpa, size, write);
}

// A write to a frame the host shares read-only: the host gives the VM a private copy first
// (copy-on-write), so every backend observes the write against the new mapping.
bool DataPath::break_sharing(uint64_t gpa) {
    coalescer_.settle(); // the host remaps the frame: the backends see what ran before first
    try {
        config_.on_shared_write(GuestPhys(gpa));
        return true;
    } catch (const OracleMismatch& e) {
        stop_.stop(StopKind::OracleMismatch, e.what());
    } catch (const std::exception& e) {
        stop_.stop(StopKind::GuestFault,
                   fmt::format("host: breaking the sharing of gPA {:#x}: {}", gpa, e.what()));
    }
    return false;
}

uint64_t DataPath::read(uint64_t offset, unsigned size) {
    uint64_t va = window_ + offset;
    if ((va & kPageOffsetMask) + size > kPageSize4K) { // crosses a page: one byte at a time
        uint64_t v = 0;
        for (unsigned i = 0; i < size; ++i) v |= read(offset + i, 1) << (8 * i);
        return v;
    }
    uint64_t gpa = translate_or_stop(va);
    if (gpa == UINT64_MAX) return 0;
    uint64_t v = 0;
    copy_access(&v, mem_.host_ptr(GuestPhys(gpa)), size);
    data_access(va, gpa, size, false);
    return v;
}

void DataPath::write(uint64_t offset, unsigned size, uint64_t value) {
    uint64_t va = window_ + offset;
    if ((va & kPageOffsetMask) + size > kPageSize4K) {
        for (unsigned i = 0; i < size; ++i) write(offset + i, 1, (value >> (8 * i)) & 0xff);
        return;
    }
    uint64_t gpa = translate_or_stop(va);
    if (gpa == UINT64_MAX) return;
    if (code_frame_[gpa >> kPageShift4K]) {
        stop_.stop(StopKind::GuestFault,
                   fmt::format("write to {:#x} lands in code frame {:#x}: guest code is read-only",
                               va, gpa));
        return;
    }
    GuestPhys pa(gpa);
    // Whether the backends hear of this write (watched) depends on their state after everything
    // before it: a loop's counted repeats go first. Only a frame watched before can change its
    // watch while they are sent: they translate the pages their body blocks translated when
    // sent in full, and the page-table frames on those paths were watched then, including any
    // shadowed page zapped or unsynced since. Other frames need no settling.
    if (coalescer_.in_loop() && mem_.ever_watched(pa)) [[unlikely]]
        coalescer_.settle();
    bool watched = mem_.watched(pa);
    uint64_t old = 0;
    if (watched) copy_access(&old, mem_.host_ptr(pa), size);
    copy_access(mem_.host_ptr(pa), &value, size);
    data_access(va, gpa, size, true);
    if (watched) {
        ++pt_writes_;
        uint64_t rip = read_reg(uc_, UC_X86_REG_RIP);
        try {
            coalescer_.broadcast([&](GuestObserver& b) {
                b.on_pt_write(rip, pa, old, value, static_cast<uint8_t>(size));
            });
        } catch (const OracleMismatch& e) {
            stop_.stop(StopKind::OracleMismatch, e.what());
        }
    }
}

uint64_t DataPath::mmio_read(uc_engine*, uint64_t offset, unsigned size, void* user) {
    return static_cast<DataPath*>(user)->read(offset, size);
}

void DataPath::mmio_write(uc_engine*, uint64_t offset, unsigned size, uint64_t value, void* user) {
    static_cast<DataPath*>(user)->write(offset, size, value);
}

void DataPath::read_virt(uint64_t va, void* dst, uint64_t len) {
    auto* out = static_cast<uint8_t*>(dst);
    while (len > 0) {
        uint64_t chunk = std::min(len, kPageSize4K - (va & kPageOffsetMask));
        auto pa = translate(va);
        if (!pa) throw std::runtime_error(fmt::format("guest address {:#x} is not mapped", va));
        std::memcpy(out, mem_.host_ptr(GuestPhys(*pa)), chunk);
        va += chunk, out += chunk, len -= chunk;
    }
}

void DataPath::write_virt(uint64_t va, const void* src, uint64_t len) {
    auto* in = static_cast<const uint8_t*>(src);
    while (len > 0) {
        uint64_t chunk = std::min(len, kPageSize4K - (va & kPageOffsetMask));
        auto pa = translate(va);
        if (!pa || code_frame_[*pa >> kPageShift4K])
            throw std::runtime_error(fmt::format("guest address {:#x} is not writable", va));
        std::memcpy(mem_.host_ptr(GuestPhys(*pa)), in, chunk);
        data_access(va, *pa, static_cast<unsigned>(chunk), true);
        va += chunk, in += chunk, len -= chunk;
    }
}

std::string DataPath::read_guest_string(uint64_t va, uint64_t len) {
    std::string s(std::min(len, kMaxGuestString), '\0');
    read_virt(va, s.data(), s.size());
    return s;
}

void DataPath::add_counters(GuestCounters& c) const {
    c.data_accesses = accesses_;
    c.data_reads = reads_;
    c.data_writes = writes_;
    c.pt_writes = pt_writes_;
}

} // namespace vmmu
