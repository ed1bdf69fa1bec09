// Guest ELF files given by path (--program, --kernel): malformed copies of the real images are
// rejected with the reason and exit code 2, both through `vmmu run` and by the loader itself.
#include "robustness_util.h"

#include "engine/core/boot.h"
#include "engine/core/elf_image.h"

#include <elf.h>

#include <cstring>
#include <functional>

namespace vmmu::robust {
namespace {

fs::path guest(const std::string& rel) { return fs::path(VMMU_GUEST_DIR) / rel; }

template <class T> T get(const std::vector<uint8_t>& b, uint64_t off) {
    T t;
    std::memcpy(&t, b.data() + off, sizeof t);
    return t;
}
template <class T> void put(std::vector<uint8_t>& b, uint64_t off, const T& t) {
    std::memcpy(b.data() + off, &t, sizeof t);
}

// Index of the n-th PT_LOAD program header with (exec) or without execute permission.
uint64_t phdr_offset(const std::vector<uint8_t>& b, bool exec) {
    auto eh = get<Elf64_Ehdr>(b, 0);
    for (unsigned i = 0; i < eh.e_phnum; ++i) {
        uint64_t off = eh.e_phoff + i * sizeof(Elf64_Phdr);
        auto ph = get<Elf64_Phdr>(b, off);
        if (ph.p_type == PT_LOAD && ph.p_memsz && ((ph.p_flags & PF_X) != 0) == exec) return off;
    }
    ADD_FAILURE() << "no such segment";
    return 0;
}

using Edit = std::function<void(std::vector<uint8_t>&)>;

// Writes an edited copy of `original` and runs hello with it as --program or --kernel.
Outcome run_with(const fs::path& original, const std::string& flag, const Edit& edit) {
    fs::path dir = scratch(test_name() + flag);
    std::vector<uint8_t> b = read_bytes(original);
    edit(b);
    fs::path bad = dir / ("bad" + original.filename().string());
    write_bytes(bad, b);
    return run_vmmu({"run", "--workload", "hello", "--backends", "none", flag, bad.string()}, dir);
}

// The same edit must fail the same way as a program and as a kernel.
void expect_rejected(const Edit& edit, const std::string& reason) {
    EXPECT_FAILS_WITH(run_with(guest("programs/hello.elf"), "--program", edit), 2,
                      "bad guest image", "badhello.elf", reason);
    EXPECT_FAILS_WITH(run_with(guest("kernel.elf"), "--kernel", edit), 2, "bad guest image",
                      "badkernel.elf", reason);
}

TEST(RobustElf, TruncatedHeaderIsRejected) {
    expect_rejected([](auto& b) { b.resize(40); }, "truncated ELF: ELF header");
}

TEST(RobustElf, TruncatedSegmentIsRejected) {
    expect_rejected(
        [](auto& b) {
            auto ph = get<Elf64_Phdr>(b, phdr_offset(b, true));
            b.resize(ph.p_offset + ph.p_filesz / 2);
        },
        "truncated: segment");
}

TEST(RobustElf, EmptyFileIsRejected) {
    expect_rejected([](auto& b) { b.clear(); }, "truncated ELF");
}

TEST(RobustElf, NotAnElfIsRejected) {
    expect_rejected([](auto& b) { b[1] = 'X'; }, "not an ELF file");
}

TEST(RobustElf, WrongMachineIsRejected) {
    expect_rejected([](auto& b) { put<uint16_t>(b, offsetof(Elf64_Ehdr, e_machine), EM_AARCH64); },
                    "wrong machine 183");
}

TEST(RobustElf, OverlappingSegmentsAreRejected) {
    expect_rejected(
        [](auto& b) {
            uint64_t text = phdr_offset(b, true), data = phdr_offset(b, false);
            auto t = get<Elf64_Phdr>(b, text);
            auto d = get<Elf64_Phdr>(b, data);
            d.p_vaddr = t.p_vaddr + 16;
            put(b, data, d);
        },
        "overlap");
}

TEST(RobustElf, TextOutsideGuestCodeMemoryIsRejected) {
    EXPECT_FAILS_WITH(run_with(guest("programs/hello.elf"), "--program",
                               [](auto& b) {
                                   uint64_t off = phdr_offset(b, true);
                                   auto t = get<Elf64_Phdr>(b, off);
                                   uint64_t shift = 0x40000000 - t.p_vaddr;
                                   t.p_vaddr += shift, t.p_paddr += shift;
                                   put(b, off, t);
                                   auto eh = get<Elf64_Ehdr>(b, 0);
                                   eh.e_entry += shift;
                                   put(b, 0, eh);
                               }),
                      2, "bad guest image", "must lie in the program slots");
}

TEST(RobustElf, TextBreakingTheIdentityRuleIsRejected) {
    expect_rejected(
        [](auto& b) {
            uint64_t off = phdr_offset(b, true);
            auto t = get<Elf64_Phdr>(b, off);
            t.p_paddr += 0x1000;
            put(b, off, t);
        },
        "identity-mapped (VA == gPA)");
}

TEST(RobustElf, EntryOutsideTextIsRejected) {
    expect_rejected([](auto& b) { put<uint64_t>(b, offsetof(Elf64_Ehdr, e_entry), 0x10); },
                    "entry point 0x10 is not in an executable segment");
}

TEST(RobustElf, SecondProgramInTheSameSlotIsRejected) {
    fs::path dir = scratch(test_name());
    fs::copy_file(guest("programs/hello.elf"), dir / "hello2.elf");
    EXPECT_FAILS_WITH(
        run_vmmu({"run", "--workload", "hello", "--program", (dir / "hello2.elf").string()}, dir),
        2, "hello2.elf",
        "hello.elf's text: each program needs its own slot; build it with `vmmu cc`");
}

TEST(RobustElf, GuestMemoryTooSmallForTheImagesIsRejected) {
    fs::path dir = scratch(test_name());
    std::vector<uint8_t> b = read_bytes(guest("programs/hello.elf"));
    // Moved to a free program slot, with a 40 MiB initialised data segment, which goes into
    // the guest's program archive.
    uint64_t off = phdr_offset(b, true);
    auto t = get<Elf64_Phdr>(b, off);
    uint64_t shift = 0x1D00000 - (t.p_vaddr & ~uint64_t{0xfffff});
    t.p_vaddr += shift, t.p_paddr += shift;
    put(b, off, t);
    put<uint64_t>(b, offsetof(Elf64_Ehdr, e_entry), get<Elf64_Ehdr>(b, 0).e_entry + shift);
    // The highest data segment grows, so it overlaps no other.
    uint64_t doff = 0;
    auto eh = get<Elf64_Ehdr>(b, 0);
    for (unsigned i = 0; i < eh.e_phnum; ++i) {
        uint64_t o = eh.e_phoff + i * sizeof(Elf64_Phdr);
        auto ph = get<Elf64_Phdr>(b, o);
        if (ph.p_type == PT_LOAD && !(ph.p_flags & PF_X) &&
            (!doff || ph.p_vaddr > get<Elf64_Phdr>(b, doff).p_vaddr))
            doff = o;
    }
    ASSERT_NE(doff, 0u);
    auto d = get<Elf64_Phdr>(b, doff);
    d.p_offset = ((b.size() + 0xfff) & ~uint64_t{0xfff}) | (d.p_vaddr & 0xfff);
    d.p_filesz = d.p_memsz = uint64_t{40} << 20;
    put(b, doff, d);
    b.resize(d.p_offset + d.p_filesz);
    write_bytes(dir / "big.elf", b);
    EXPECT_FAILS_WITH(run_vmmu({"run", "--workload", "hello", "--guest-mib", "64", "--program",
                                (dir / "big.elf").string()},
                               dir),
                      2, "guest memory of 64 MiB is too small", "raise --guest-mib");
}

// Trailing bytes (symbols, debug information with build paths) stay out of the guest: only
// what exec reads goes into the program archive, so guest memory does not depend on them.
TEST(RobustElf, ArchiveHoldsOnlyWhatTheLoaderReads) {
    std::vector<uint8_t> b = read_bytes(guest("programs/hello.elf"));
    ElfImage plain = parse_elf("hello.elf", b);
    EXPECT_LT(plain.load_bytes, b.size()) << "hello.elf is built with -g: it has trailing bytes";
    b.resize(b.size() + (uint64_t{40} << 20), 0xAB);
    ElfImage padded = parse_elf("padded.elf", b);
    EXPECT_EQ(padded.load_bytes, plain.load_bytes);
    ElfImage kernel = read_elf(guest("kernel.elf").string());
    GuestMemory a(uint64_t{64} << 20), c(uint64_t{64} << 20);
    std::vector<ElfImage> pa_images{plain}, pc_images{padded};
    BootState sa = load_guest(a, kernel, pa_images, {"hello"}, BootOptions{"hello", 1000, 0});
    BootState sc = load_guest(c, kernel, pc_images, {"hello"}, BootOptions{"hello", 1000, 0});
    EXPECT_EQ(sa.free_start, sc.free_start);
    std::vector<uint8_t> pa(sa.free_start), pc(sc.free_start);
    a.read(GuestPhys(0), pa.data(), pa.size());
    c.read(GuestPhys(0), pc.data(), pc.size());
    EXPECT_TRUE(pa == pc) << "guest memory differs when only non-loaded bytes differ";
}

TEST(RobustElf, MissingFileIsNamed) {
    fs::path dir = scratch(test_name());
    EXPECT_FAILS_WITH(
        run_vmmu({"run", "--workload", "hello", "--program", "/nonexistent/x.elf"}, dir), 2,
        "/nonexistent/x.elf", "cannot open");
}

// The loader itself, in-process: every edit above throws ImageError, never anything else.
TEST(RobustElf, LoaderThrowsImageErrorOnEveryTruncation) {
    std::vector<uint8_t> good = read_bytes(guest("programs/hello.elf"));
    ElfImage kernel = read_elf(guest("kernel.elf").string());
    GuestMemory mem(uint64_t{64} << 20);
    for (size_t len = 0; len < good.size(); len += 97) {
        std::vector<uint8_t> cut(good.begin(), good.begin() + static_cast<long>(len));
        try {
            std::vector<ElfImage> images{parse_elf("cut.elf", cut)};
            load_guest(mem, kernel, images, {"cut"}, BootOptions{"cut", 1000, 0});
        } catch (const ImageError&) {
        }
    }
}

} // namespace
} // namespace vmmu::robust
