#include "engine/core/boot.h"

#include "engine/core/paging.h"
#include "vmmu/abi.h"

#include <fmt/format.h>

#include <cstring>

namespace vmmu {
namespace {

constexpr uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }

void copy_segment(GuestMemory& mem, const ElfImage& img, const ElfSegment& s, uint64_t gpa) {
    mem.write(GuestPhys(gpa), img.bytes.data() + s.file_offset, s.file_size);
    std::vector<uint8_t> zeros(s.mem_size - s.file_size, 0);
    mem.write(GuestPhys(gpa + s.file_size), zeros.data(), zeros.size());
}

// Bump allocator for boot page-table frames in [VMMU_BOOT_TABLES_GPA, VMMU_KERNEL_TEXT_BASE).
class TableFrames {
public:
    explicit TableFrames(GuestMemory& mem) : mem_(mem) {}
    uint64_t alloc() {
        if (next_ >= VMMU_KERNEL_TEXT_BASE)
            throw ImageError(
                "boot page tables do not fit below the kernel (guest memory too large)");
        uint64_t f = next_;
        next_ += kPageSize4K;
        std::vector<uint8_t> zero(kPageSize4K, 0);
        mem_.write(GuestPhys(f), zero.data(), zero.size());
        return f;
    }
    // Returns the table that entry (table, index) points to, creating it.
    uint64_t child(uint64_t table, unsigned index) {
        GuestPhys e(table + 8ull * index);
        uint64_t v = mem_.read_u64(e);
        if (v & x86::kPteP) return v & x86::kPteAddrMask;
        uint64_t t = alloc();
        mem_.write_u64(e, t | x86::kPteP | x86::kPteW);
        return t;
    }

private:
    GuestMemory& mem_;
    uint64_t next_ = VMMU_BOOT_TABLES_GPA;
};

// The table of `level` that maps va under the `levels`-level tables at root, created as needed.
uint64_t table_at(TableFrames& tf, uint64_t root, int levels, uint64_t va, int level) {
    uint64_t t = root;
    for (int l = levels; l > level; --l) t = tf.child(t, x86::table_index(va, l));
    return t;
}

void check_kernel(const ElfImage& k, uint64_t mem_bytes) {
    for (auto& s : k.segments) {
        if (s.exec) {
            if (s.vaddr != s.paddr)
                throw ImageError(
                    fmt::format("{}: text segment at {:#x} is loaded at {:#x}: code must "
                                "be identity-mapped (VA == gPA)",
                                k.path, s.vaddr, s.paddr));
            if (s.vaddr < VMMU_KERNEL_TEXT_BASE || s.vaddr + s.mem_size > VMMU_PROG_TEXT_BASE)
                throw ImageError(fmt::format(
                    "{}: kernel text [{:#x}, {:#x}) must lie in [{:#x}, {:#x})", k.path, s.vaddr,
                    s.vaddr + s.mem_size, VMMU_KERNEL_TEXT_BASE, VMMU_PROG_TEXT_BASE));
        } else {
            if (s.vaddr != VMMU_DIRECT_MAP + s.paddr)
                throw ImageError(
                    fmt::format("{}: data segment at {:#x} must be linked in the direct "
                                "map (VA = {:#x} + gPA {:#x})",
                                k.path, s.vaddr, VMMU_DIRECT_MAP, s.paddr));
            if (s.paddr < VMMU_KERNEL_TEXT_BASE || s.paddr + s.mem_size > VMMU_PROG_TEXT_BASE)
                throw ImageError(fmt::format("{}: kernel data [{:#x}, {:#x}) must be loaded in "
                                             "[{:#x}, {:#x})",
                                             k.path, s.paddr, s.paddr + s.mem_size,
                                             VMMU_KERNEL_TEXT_BASE, VMMU_PROG_TEXT_BASE));
        }
        if (s.paddr + s.mem_size > mem_bytes)
            throw ImageError(
                fmt::format("{}: segment at gPA {:#x} lies beyond guest memory ({} MiB)", k.path,
                            s.paddr, mem_bytes >> 20));
    }
}

} // namespace

// The rules a program must follow, each message with the way to a program that follows them.
void check_program(const ElfImage& p, uint64_t mem_bytes) {
    constexpr const char* kFix = "build it with `vmmu cc FILES... -o prog.elf`, which links it "
                                 "for the guest (docs/PROGRAMS.md)";
    if (p.dynamic)
        throw ImageError(fmt::format("{}: dynamically linked (it has an interpreter or a dynamic "
                                     "section); the guest has no dynamic loader: {}",
                                     p.path, kFix));
    if (p.tls)
        throw ImageError(fmt::format("{}: uses thread-local storage (a PT_TLS segment); the "
                                     "guest kernel sets up none: drop _Thread_local / __thread "
                                     "and {}",
                                     p.path, kFix));
    for (auto& s : p.segments) {
        if (s.exec) {
            if (s.write)
                throw ImageError(fmt::format("{}: text segment at {:#x} is writable; program "
                                             "text is shared read-only by every process: {}",
                                             p.path, s.vaddr, kFix));
            if (s.vaddr != s.paddr)
                throw ImageError(fmt::format("{}: text at {:#x} loaded at {:#x}: code must be "
                                             "identity-mapped (VA == gPA): {}",
                                             p.path, s.vaddr, s.paddr, kFix));
            if (s.vaddr < VMMU_PROG_TEXT_BASE || s.vaddr + s.mem_size > VMMU_CODE_END)
                throw ImageError(fmt::format("{}: program text [{:#x}, {:#x}) must lie in the "
                                             "program slots [{:#x}, {:#x}): {}",
                                             p.path, s.vaddr, s.vaddr + s.mem_size,
                                             VMMU_PROG_TEXT_BASE, VMMU_CODE_END, kFix));
            if (s.vaddr + s.mem_size > mem_bytes)
                throw ImageError(fmt::format("{}: text beyond guest memory", p.path));
        } else if (s.vaddr < VMMU_USER_DATA_BASE || s.vaddr + s.mem_size > VMMU_DIRECT_MAP) {
            throw ImageError(fmt::format("{}: data segment [{:#x}, {:#x}) must lie in user memory "
                                         "[{:#x}, {:#x}) (data is reached through the MMIO "
                                         "window, only code sits below guest memory's end): {}",
                                         p.path, s.vaddr, s.vaddr + s.mem_size, VMMU_USER_DATA_BASE,
                                         VMMU_DIRECT_MAP, kFix));
        }
    }
}

void place_programs(std::vector<ElfImage>& programs) {
    std::vector<std::pair<uint64_t, uint64_t>> taken; // [begin, end) of placed text
    std::vector<std::string> owner;
    auto overlap = [&taken](uint64_t b, uint64_t e) -> long {
        for (size_t i = 0; i < taken.size(); ++i)
            if (b < taken[i].second && taken[i].first < e) return static_cast<long>(i);
        return -1;
    };
    // Programs that cannot move claim their slots first, in order.
    for (bool movable : {false, true}) {
        for (auto& p : programs) {
            if (p.relocatable != movable) continue;
            uint64_t b = p.text_begin(), e = p.text_end();
            if (long i = overlap(b, e); i >= 0) {
                if (!movable)
                    throw ImageError(fmt::format(
                        "{}: text [{:#x}, {:#x}) overlaps {}'s text: each program needs its own "
                        "slot; build it with `vmmu cc`, which keeps the relocations that let "
                        "vmmu move it to a free slot",
                        p.path, b, e, owner[static_cast<size_t>(i)]));
                uint64_t size = align_up(e - b, VMMU_PROG_TEXT_SLOT);
                uint64_t at = VMMU_PROG_TEXT_BASE;
                while (at + size <= VMMU_CODE_END && overlap(at, at + size) >= 0)
                    at += VMMU_PROG_TEXT_SLOT;
                if (at + size > VMMU_CODE_END)
                    throw ImageError(fmt::format(
                        "{}: no free text slot: its text needs {} KiB and the {} program slots "
                        "of {} KiB are taken by the other programs; run fewer programs",
                        p.path, (e - b) >> 10, VMMU_PROG_MAX_SLOTS, VMMU_PROG_TEXT_SLOT >> 10));
                rebase_text(p, at + (b & (kPageSize4K - 1)));
                b = p.text_begin();
                e = p.text_end();
            }
            taken.push_back({b, e});
            owner.push_back(p.path);
        }
    }
}

namespace {

// GDT: null, 64-bit kernel code (0x08), kernel data (0x10); accessed bits preset so loading a
// selector never writes the table.
void write_gdt(GuestMemory& mem, BootState& st) {
    const uint64_t gdt[3] = {0, 0x00209b0000000000ull, 0x0000930000000000ull};
    mem.write(GuestPhys(VMMU_BOOT_GDT_GPA), gdt, sizeof gdt);
    st.gdt_base = VMMU_DIRECT_MAP + VMMU_BOOT_GDT_GPA;
    st.gdt_limit = sizeof gdt - 1;
}

} // namespace

BootState load_guest(GuestMemory& mem, const ElfImage& kernel, std::vector<ElfImage>& programs,
                     const std::vector<std::string>& names, const BootOptions& options) {
    BootState st;
    check_kernel(kernel, mem.size());
    for (auto& p : programs) check_program(p, mem.size());
    place_programs(programs);
    uint64_t reserved_end = VMMU_CODE_END;
    for (auto& s : kernel.segments) {
        copy_segment(mem, kernel, s, s.paddr);
        if (s.exec) st.code_ranges.push_back({s.paddr, s.paddr + s.mem_size});
    }
    st.kernel_text_begin = kernel.text_begin();
    st.kernel_text_end = kernel.text_end();

    std::vector<std::pair<uint64_t, uint64_t>> prog_text;
    for (auto& p : programs) {
        for (auto& s : p.segments) {
            if (!s.exec) continue;
            for (auto& [b, e] : prog_text)
                if (s.vaddr < e && b < s.vaddr + s.mem_size)
                    throw ImageError(
                        fmt::format("{}: text [{:#x}, {:#x}) overlaps another program's "
                                    "text: give each program its own slot",
                                    p.path, s.vaddr, s.vaddr + s.mem_size));
            prog_text.push_back({s.vaddr, s.vaddr + s.mem_size});
            copy_segment(mem, p, s, s.paddr);
            st.code_ranges.push_back({s.paddr, s.paddr + s.mem_size});
        }
    }

    // Archive: header, entries, then each ELF file's loadable prefix, 16-byte aligned.
    uint64_t archive = align_up(reserved_end, kPageSize4K);
    uint64_t cursor = sizeof(vmmu_archive_header) + programs.size() * sizeof(vmmu_archive_entry);
    std::vector<vmmu_archive_entry> entries(programs.size());
    for (size_t i = 0; i < programs.size(); ++i) {
        auto& e = entries[i];
        std::memset(&e, 0, sizeof e);
        if (names[i].size() >= VMMU_ARCHIVE_NAME_MAX)
            throw ImageError(fmt::format("program name '{}' is longer than {} characters", names[i],
                                         VMMU_ARCHIVE_NAME_MAX - 1));
        std::memcpy(e.name, names[i].data(), names[i].size());
        cursor = align_up(cursor, 16);
        e.offset = cursor;
        e.size = programs[i].load_bytes;
        cursor += e.size;
    }
    uint64_t archive_bytes = cursor;
    st.free_start = align_up(archive + archive_bytes, uint64_t{2} << 20);
    if (st.free_start + (uint64_t{16} << 20) > mem.size())
        throw ImageError(
            fmt::format("guest memory of {} MiB is too small: kernel, programs and archive "
                        "need {} MiB plus at least 16 MiB to run; raise --guest-mib",
                        mem.size() >> 20, st.free_start >> 20));
    vmmu_archive_header hdr{VMMU_ARCHIVE_MAGIC, programs.size()};
    mem.write(GuestPhys(archive), &hdr, sizeof hdr);
    if (!entries.empty())
        mem.write(GuestPhys(archive + sizeof hdr), entries.data(),
                  entries.size() * sizeof(vmmu_archive_entry));
    for (size_t i = 0; i < programs.size(); ++i)
        mem.write(GuestPhys(archive + entries[i].offset), programs[i].bytes.data(),
                  entries[i].size);

    // Boot page tables: kernel text identity-mapped (4K, global, read-only), direct map (2M).
    // No NX bits anywhere: Unicorn's CPU models lack CPUID NX, so EFER.NXE cannot be set and
    // bit 63 is reserved (a #PF with RSVD set).
    // With five levels (CR4.LA57) the root is a PML5 whose slot 0 holds the same PML4.
    if (options.levels != 4 && options.levels != 5)
        throw ImageError(fmt::format("{} paging levels: only 4 and 5 exist", options.levels));
    TableFrames tf(mem);
    uint64_t root = tf.alloc();
    for (auto& s : kernel.segments) {
        if (!s.exec) continue;
        for (uint64_t va = s.vaddr & ~0xfffull; va < s.vaddr + s.mem_size; va += kPageSize4K)
            mem.write_u64(GuestPhys(table_at(tf, root, options.levels, va, 1) +
                                    8ull * x86::table_index(va, 1)),
                          va | x86::kPteP | x86::kPteG);
    }
    for (uint64_t pa = 0; pa < mem.size(); pa += uint64_t{2} << 20) {
        uint64_t va = VMMU_DIRECT_MAP + pa;
        mem.write_u64(
            GuestPhys(table_at(tf, root, options.levels, va, 2) + 8ull * x86::table_index(va, 2)),
            pa | x86::kPteP | x86::kPteW | x86::kPtePs | x86::kPteG);
    }
    st.cr3 = root;
    write_gdt(mem, st);

    vmmu_boot_info info;
    std::memset(&info, 0, sizeof info);
    info.magic = VMMU_BOOT_MAGIC;
    info.mem_bytes = mem.size();
    info.free_start = st.free_start;
    info.archive_gpa = archive;
    info.archive_bytes = archive_bytes;
    info.timer_period = options.timer_period;
    info.flags = options.flags | (options.levels == 5 ? VMMU_BOOT_FLAG_LA57 : 0);
    info.boot_pml4_gpa = root;
    info.ncpus = options.ncpus;
    if (options.cmdline.size() >= VMMU_CMDLINE_MAX)
        throw ImageError(fmt::format("command line is {} bytes; at most {} fit",
                                     options.cmdline.size(), VMMU_CMDLINE_MAX - 1));
    std::memcpy(info.cmdline, options.cmdline.data(), options.cmdline.size());
    mem.write(GuestPhys(VMMU_BOOT_INFO_GPA), &info, sizeof info);

    st.entry = kernel.entry;
    st.rdi = VMMU_DIRECT_MAP + VMMU_BOOT_INFO_GPA;
    st.rsp = VMMU_DIRECT_MAP + VMMU_BOOT_TABLES_GPA; // 16 KiB stack below the tables
    return st;
}

} // namespace vmmu
