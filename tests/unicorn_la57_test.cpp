// The measurement behind docs/UNICORN-2.0.1.md, fact 20: Unicorn 2.0.1 keeps CR4.LA57 and walks
// five-level page tables (Intel SDM vol. 3, 4.5: a PML5 table above the PML4). A bare Unicorn
// guest of one instruction loads through a gVA with bit 48 set, which is canonical only with
// 57-bit linear addresses.
#include <unicorn/unicorn.h>

#include <gtest/gtest.h>

#include <cstdint>

namespace {

constexpr uint64_t kPresentWritable = 0x3, kAccessed = 1ull << 5;
constexpr uint64_t kCr0PePg = 0x80000011, kCr4Pae = 1ull << 5, kCr4La57 = 1ull << 12;
constexpr uint64_t kEferLmeLma = (1ull << 8) | (1ull << 10);
constexpr uint64_t kHighVa = 0x0001'0000'0000'2000; // PML5 index 1: beyond 48-bit addresses
constexpr uint64_t kMagic = 0x1111'2222'3333'4444;
// Tables: PML5, then two chains PML4 -> PDPT -> PD -> PT (code at VA 0x1000, data at kHighVa).
constexpr uint64_t kPml5 = 0x10000, kLow = 0x11000, kHigh = 0x15000;

struct Probe {
    bool la57_kept = false;
    int interrupt = -1; // vector raised, -1 none
    uint64_t rax = 0;
    bool pml5_accessed = false; // the walk read the PML5 entry
};

void put(uc_engine* uc, uint64_t pa, uint64_t v) { uc_mem_write(uc, pa, &v, 8); }
uint64_t get(uc_engine* uc, uint64_t pa) {
    uint64_t v = 0;
    uc_mem_read(uc, pa, &v, 8);
    return v;
}
void chain(uc_engine* uc, uint64_t first, uint64_t pt_index, uint64_t frame) {
    for (uint64_t t = first; t < first + 0x3000; t += 0x1000) put(uc, t, (t + 0x1000) | 3);
    put(uc, first + 0x3000 + 8 * pt_index, frame | kPresentWritable);
}

Probe run(bool la57) {
    Probe p;
    uc_engine* uc = nullptr;
    EXPECT_EQ(uc_open(UC_ARCH_X86, UC_MODE_64, &uc), UC_ERR_OK);
    uc_mem_map(uc, 0, 0x200000, UC_PROT_ALL);
    // Unicorn uses the VA as the physical address (fact 1): the high page must be mapped too.
    uc_mem_map(uc, kHighVa & ~0xffffull, 0x10000, UC_PROT_ALL);
    put(uc, kPml5, kLow | kPresentWritable);
    put(uc, kPml5 + 8, kHigh | kPresentWritable);
    chain(uc, kLow, 1, 0x1000);
    chain(uc, kHigh, 2, 0x3000);
    put(uc, kHighVa, kMagic);
    const uint8_t code[] = {0x48, 0x8b, 0x03, 0xf4}; // mov rax, [rbx]; hlt
    uc_mem_write(uc, 0x1000, code, sizeof code);
    // Without LA57 the same tables are read from the PML4 down (CR3 at the low chain).
    uint64_t cr3 = la57 ? kPml5 : kLow, cr4 = kCr4Pae | (la57 ? kCr4La57 : 0), cr0 = kCr0PePg;
    uc_x86_msr efer{0xC0000080, kEferLmeLma};
    uc_reg_write(uc, UC_X86_REG_CR3, &cr3);
    uc_reg_write(uc, UC_X86_REG_CR4, &cr4);
    uc_reg_write(uc, UC_X86_REG_MSR, &efer);
    uc_reg_write(uc, UC_X86_REG_CR0, &cr0);
    uint64_t back = 0;
    uc_reg_read(uc, UC_X86_REG_CR4, &back);
    p.la57_kept = back & kCr4La57;
    uint64_t rbx = kHighVa;
    uc_reg_write(uc, UC_X86_REG_RBX, &rbx);
    uc_hook hook;
    uc_hook_add(uc, &hook, UC_HOOK_INTR,
                reinterpret_cast<void*>(+[](uc_engine* u, uint32_t intno, void* data) {
                    static_cast<Probe*>(data)->interrupt = static_cast<int>(intno);
                    uc_emu_stop(u);
                }),
                &p, 1, 0);
    uc_emu_start(uc, 0x1000, 0x1000 + sizeof code, 0, 10);
    uc_reg_read(uc, UC_X86_REG_RAX, &p.rax);
    p.pml5_accessed = get(uc, kPml5 + 8) & kAccessed;
    uc_close(uc);
    return p;
}

} // namespace

TEST(UnicornLa57, FiveLevelPagingReachesAnAddressAboveFortyEightBits) {
    Probe p = run(true);
    EXPECT_TRUE(p.la57_kept);
    EXPECT_EQ(p.interrupt, -1);
    EXPECT_EQ(p.rax, kMagic);
    EXPECT_TRUE(p.pml5_accessed); // the walk started at the PML5 table and set its A bit
}

TEST(UnicornLa57, WithoutLa57TheSameAddressIsNonCanonical) {
    Probe p = run(false);
    EXPECT_FALSE(p.la57_kept);
    EXPECT_EQ(p.interrupt, 13); // #GP
    EXPECT_EQ(p.rax, 0u);
}
