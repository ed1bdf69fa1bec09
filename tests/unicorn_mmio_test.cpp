// The measurement behind docs/UNICORN-2.0.1.md, fact 4: which accesses an MMIO callback of
// Unicorn 2.0.1 receives for general-purpose, SSE, x87 and FXSAVE instructions, and which RIP it
// can read then. A bare Unicorn in 64-bit mode (paging off, SSE enabled as the engine's boot
// state has it) runs one instruction at a time against an MMIO region and records each callback.
#include <unicorn/unicorn.h>

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace {

constexpr uint64_t kCode = 0x1000, kMmio = 0x100000;

struct Piece {
    bool write;
    uint64_t offset;
    unsigned size;
    uint64_t rip;
};

struct Probe {
    uc_engine* uc = nullptr;
    std::vector<Piece> pieces;
    uint8_t mem[0x2000] = {};

    Probe() {
        uc_open(UC_ARCH_X86, UC_MODE_64, &uc);
        uc_mem_map(uc, 0, 0x100000, UC_PROT_ALL);
        uc_mmio_map(
            uc, kMmio, 0x2000,
            [](uc_engine* u, uint64_t off, unsigned size, void* d) -> uint64_t {
                auto* p = static_cast<Probe*>(d);
                uint64_t rip = 0, v = 0;
                uc_reg_read(u, UC_X86_REG_RIP, &rip);
                p->pieces.push_back({false, off, size, rip});
                std::memcpy(&v, p->mem + off, size);
                return v;
            },
            this,
            [](uc_engine* u, uint64_t off, unsigned size, uint64_t v, void* d) {
                auto* p = static_cast<Probe*>(d);
                uint64_t rip = 0;
                uc_reg_read(u, UC_X86_REG_RIP, &rip);
                p->pieces.push_back({true, off, size, rip});
                std::memcpy(p->mem + off, &v, size);
            },
            this);
        // What the engine registers so that RIP is synced before memory accesses.
        uc_hook h;
        uc_hook_add(
            uc, &h, UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE,
            reinterpret_cast<void*>(+[](uc_engine*, uc_mem_type, uint64_t, int, int64_t, void*) {}),
            nullptr, 0, 0);
        uint64_t cr0 = 0, cr4 = 0;
        uc_reg_read(uc, UC_X86_REG_CR0, &cr0);
        uc_reg_read(uc, UC_X86_REG_CR4, &cr4);
        cr0 = (cr0 & ~4ull) | 2 | 0x20; // EM clear, MP and NE set
        cr4 |= (1 << 9) | (1 << 10);    // OSFXSR, OSXMMEXCPT
        uc_reg_write(uc, UC_X86_REG_CR0, &cr0);
        uc_reg_write(uc, UC_X86_REG_CR4, &cr4);
    }
    ~Probe() { uc_close(uc); }

    // Runs `code` at kCode with rdi = kMmio + offset; returns the callbacks it made.
    std::vector<Piece> run(std::vector<uint8_t> code, uint64_t offset = 0) {
        pieces.clear();
        uc_mem_write(uc, kCode, code.data(), code.size());
        uint64_t rdi = kMmio + offset;
        uc_reg_write(uc, UC_X86_REG_RDI, &rdi);
        EXPECT_EQ(uc_emu_start(uc, kCode, kCode + code.size(), 0, 0), UC_ERR_OK);
        return pieces;
    }
};

std::vector<std::pair<uint64_t, unsigned>> shape(const std::vector<Piece>& p, bool write) {
    std::vector<std::pair<uint64_t, unsigned>> s;
    for (auto& x : p) {
        EXPECT_EQ(x.write, write);
        s.push_back({x.offset, x.size});
    }
    return s;
}

using Shape = std::vector<std::pair<uint64_t, unsigned>>;

TEST(UnicornMmio, EightByteAccessesArriveAsTwoFourBytePieces) {
    Probe p;
    Shape two = {{0, 4}, {4, 4}};
    EXPECT_EQ(shape(p.run({0x48, 0x8b, 0x07}), false), two);                   // mov rax, [rdi]
    EXPECT_EQ(shape(p.run({0x48, 0x89, 0x07}), true), two);                    // mov [rdi], rax
    EXPECT_EQ(shape(p.run({0xf2, 0x0f, 0x10, 0x07}), false), two);             // movsd xmm0, [rdi]
    EXPECT_EQ(shape(p.run({0xf2, 0x0f, 0x11, 0x07}), true), two);              // movsd [rdi], xmm0
    EXPECT_EQ(shape(p.run({0xf3, 0x0f, 0x10, 0x2f}), false), (Shape{{0, 4}})); // movss
}

TEST(UnicornMmio, SixteenByteAccessesArriveAsFourPieces) {
    Probe p;
    Shape four = {{0, 4}, {4, 4}, {8, 4}, {12, 4}};
    EXPECT_EQ(shape(p.run({0x66, 0x0f, 0x28, 0x0f}), false), four); // movapd xmm1, [rdi]
    EXPECT_EQ(shape(p.run({0x66, 0x0f, 0x29, 0x0f}), true), four);  // movapd [rdi], xmm1
    // Misaligned movdqu load at +1: the aligned 8-byte words it overlaps, the middle one twice.
    EXPECT_EQ(shape(p.run({0xf3, 0x0f, 0x6f, 0x57, 0x01}), false),
              (Shape{{0, 4}, {4, 4}, {8, 4}, {12, 4}, {8, 4}, {12, 4}, {16, 4}, {20, 4}}));
    // Misaligned movdqu store at +1: byte by byte.
    auto st = shape(p.run({0xf3, 0x0f, 0x7f, 0x57, 0x01}), true);
    ASSERT_EQ(st.size(), 16u);
    for (unsigned i = 0; i < 16; ++i) EXPECT_EQ(st[i], (std::pair<uint64_t, unsigned>{1 + i, 1}));
}

TEST(UnicornMmio, FxsaveAndFxrstorArriveInPiecesOfAtMostFourBytes) {
    Probe p;
    auto save = p.run({0x48, 0x0f, 0xae, 0x07}); // fxsave64 [rdi]
    unsigned bytes = 0;
    for (auto& x : save) {
        EXPECT_TRUE(x.write);
        EXPECT_LE(x.size, 4u);
        EXPECT_LT(x.offset + x.size, 512u);
        bytes += x.size;
    }
    EXPECT_EQ(save.size(), 97u);
    EXPECT_EQ(bytes, 366u); // x87 registers as 10 bytes: no reserved or padding byte
    auto restore = p.run({0x48, 0x0f, 0xae, 0x0f}); // fxrstor64 [rdi]
    for (auto& x : restore) EXPECT_FALSE(x.write);
    EXPECT_EQ(restore.size(), 92u);
}

// RIP is synced before a 1- to 4-byte access (general-purpose, movss), not before an 8- or
// 16-byte SSE one: a movsd right after a mov reads the mov's RIP. So the callback cannot always
// tell where one instruction's pieces end.
TEST(UnicornMmio, RipIsNotSyncedBeforeWideSseAccesses) {
    Probe p;
    // mov eax, [rdi] ; movss xmm5, [rdi + 4]: both synced
    auto v = p.run({0x8b, 0x07, 0xf3, 0x0f, 0x10, 0x6f, 0x04});
    ASSERT_EQ(v.size(), 2u);
    EXPECT_EQ(v[0].rip, kCode);
    EXPECT_EQ(v[1].rip, kCode + 2);
    // mov eax, [rdi] ; movsd xmm0, [rdi + 8]: the movsd's two pieces read the mov's RIP
    v = p.run({0x8b, 0x07, 0xf2, 0x0f, 0x10, 0x47, 0x08});
    ASSERT_EQ(v.size(), 3u);
    EXPECT_EQ(v[1].rip, kCode); // the movsd sits at kCode + 2
    EXPECT_EQ(v[2].rip, kCode);
}

} // namespace
