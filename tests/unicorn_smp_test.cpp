// The measurement behind docs/UNICORN-2.0.1.md, fact 21: what the SMP teaching kernel relies on
// for per-CPU data and locks. A bare Unicorn guest in long mode writes IA32_GS_BASE and
// IA32_KERNEL_GS_BASE with wrmsr, loads through %gs, swaps the two with swapgs, reads GS_BASE back
// with rdmsr, and runs `lock cmpxchg` (Intel SDM vol. 2, CMPXCHG) on an MMIO page, once matching
// and once not, then `lock xadd` (SDM vol. 2, XADD: the ticket spinlock's take) on the same page.
// Each Unicorn instance keeps its own GS base, so per-vCPU data works without the
// engine's help.
#include <unicorn/unicorn.h>

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace {

constexpr uint64_t kPml4 = 0x10000, kPdpt = 0x11000, kPd = 0x12000;
constexpr uint64_t kPresentWritable = 0x3, kPageSize2M = 1ull << 7;
constexpr uint64_t kCr0PePg = 0x80000011, kCr4Pae = 1ull << 5;
constexpr uint64_t kEferLmeLma = (1ull << 8) | (1ull << 10);
constexpr uint64_t kGsBase = 0x3000, kKernelGsBase = 0x5000, kMmio = 0x400000;

// mov ecx, IA32_GS_BASE; mov eax, 0x3000; xor edx, edx; wrmsr
// mov ecx, IA32_KERNEL_GS_BASE; mov eax, 0x5000; wrmsr
// mov r8, gs:[0x10]; swapgs; mov r9, gs:[0x10]
// mov ecx, IA32_GS_BASE; rdmsr; mov r10, rax
// mov rbx, 0x400000; mov eax, 7; mov ecx, 9; lock cmpxchg [rbx], ecx; setz r11b; mov r12d, eax
// xor eax, eax; lock cmpxchg [rbx], ecx; setz r13b; mov r14d, eax
// mov ecx, 5; lock xadd [rbx+4], ecx; mov r15d, ecx; hlt
const uint8_t kCode[] = {
    0xb9, 0x01, 0x01, 0x00, 0xc0, 0xb8, 0x00, 0x30, 0x00, 0x00, 0x31, 0xd2, 0x0f, 0x30, 0xb9, 0x02,
    0x01, 0x00, 0xc0, 0xb8, 0x00, 0x50, 0x00, 0x00, 0x0f, 0x30, 0x65, 0x4c, 0x8b, 0x04, 0x25, 0x10,
    0x00, 0x00, 0x00, 0x0f, 0x01, 0xf8, 0x65, 0x4c, 0x8b, 0x0c, 0x25, 0x10, 0x00, 0x00, 0x00, 0xb9,
    0x01, 0x01, 0x00, 0xc0, 0x0f, 0x32, 0x49, 0x89, 0xc2, 0x48, 0xc7, 0xc3, 0x00, 0x00, 0x40, 0x00,
    0xb8, 0x07, 0x00, 0x00, 0x00, 0xb9, 0x09, 0x00, 0x00, 0x00, 0xf0, 0x0f, 0xb1, 0x0b, 0x41, 0x0f,
    0x94, 0xc3, 0x41, 0x89, 0xc4, 0x31, 0xc0, 0xf0, 0x0f, 0xb1, 0x0b, 0x41, 0x0f, 0x94, 0xc5, 0x41,
    0x89, 0xc6, 0xb9, 0x05, 0x00, 0x00, 0x00, 0xf0, 0x0f, 0xc1, 0x4b, 0x04, 0x41, 0x89, 0xcf, 0xf4};

struct Access {
    bool write;
    uint64_t offset;
    unsigned size;
    uint64_t value;
};

struct Probe {
    int interrupt = -1;
    uint64_t r8 = 0, r9 = 0, r10 = 0, r11 = 0, r12 = 0, r13 = 0, r14 = 0, r15 = 0;
    uint32_t mmio_word = 7;    // what the MMIO page holds at offset 0
    uint32_t mmio_ticket = 40; // and at offset 4
    std::vector<Access> accesses;
};

void put(uc_engine* uc, uint64_t pa, uint64_t v) { uc_mem_write(uc, pa, &v, 8); }

uint64_t mmio_read(uc_engine*, uint64_t offset, unsigned size, void* data) {
    auto* p = static_cast<Probe*>(data);
    p->accesses.push_back({false, offset, size, offset == 4 ? p->mmio_ticket : p->mmio_word});
    return offset == 0 ? p->mmio_word : offset == 4 ? p->mmio_ticket : 0;
}

void mmio_write(uc_engine*, uint64_t offset, unsigned size, uint64_t value, void* data) {
    auto* p = static_cast<Probe*>(data);
    p->accesses.push_back({true, offset, size, value});
    if (offset == 0) p->mmio_word = static_cast<uint32_t>(value);
    if (offset == 4) p->mmio_ticket = static_cast<uint32_t>(value);
}

Probe run() {
    Probe p;
    uc_engine* uc = nullptr;
    EXPECT_EQ(uc_open(UC_ARCH_X86, UC_MODE_64, &uc), UC_ERR_OK);
    uc_mem_map(uc, 0, 0x200000, UC_PROT_ALL);
    uc_mmio_map(uc, kMmio, 0x1000, mmio_read, &p, mmio_write, &p);
    // Identity map of the first 4 MiB plus the MMIO page's 2 MiB block, 2 MiB pages.
    put(uc, kPml4, kPdpt | kPresentWritable);
    put(uc, kPdpt, kPd | kPresentWritable);
    for (uint64_t i = 0; i < 3; ++i)
        put(uc, kPd + 8 * i, (i << 21) | kPresentWritable | kPageSize2M);
    put(uc, kGsBase + 0x10, 0x1111);
    put(uc, kKernelGsBase + 0x10, 0x2222);
    uc_mem_write(uc, 0x1000, kCode, sizeof kCode);
    uint64_t cr3 = kPml4, cr4 = kCr4Pae, cr0 = kCr0PePg;
    uc_x86_msr efer{0xC0000080, kEferLmeLma};
    uc_reg_write(uc, UC_X86_REG_CR3, &cr3);
    uc_reg_write(uc, UC_X86_REG_CR4, &cr4);
    uc_reg_write(uc, UC_X86_REG_MSR, &efer);
    uc_reg_write(uc, UC_X86_REG_CR0, &cr0);
    uc_hook hook;
    uc_hook_add(uc, &hook, UC_HOOK_INTR,
                reinterpret_cast<void*>(+[](uc_engine* u, uint32_t intno, void* data) {
                    static_cast<Probe*>(data)->interrupt = static_cast<int>(intno);
                    uc_emu_stop(u);
                }),
                &p, 1, 0);
    uc_emu_start(uc, 0x1000, 0x1000 + sizeof kCode, 0, 100);
    uc_reg_read(uc, UC_X86_REG_R8, &p.r8);
    uc_reg_read(uc, UC_X86_REG_R9, &p.r9);
    uc_reg_read(uc, UC_X86_REG_R10, &p.r10);
    uc_reg_read(uc, UC_X86_REG_R11, &p.r11);
    uc_reg_read(uc, UC_X86_REG_R12, &p.r12);
    uc_reg_read(uc, UC_X86_REG_R13, &p.r13);
    uc_reg_read(uc, UC_X86_REG_R14, &p.r14);
    uc_reg_read(uc, UC_X86_REG_R15, &p.r15);
    uc_close(uc);
    return p;
}

} // namespace

TEST(UnicornSmp, GsBaseMsrAndSwapgsWork) {
    Probe p = run();
    EXPECT_EQ(p.interrupt, -1);
    EXPECT_EQ(p.r8, 0x1111u);        // gs:[0x10] through IA32_GS_BASE
    EXPECT_EQ(p.r9, 0x2222u);        // after swapgs: through the former IA32_KERNEL_GS_BASE
    EXPECT_EQ(p.r10, kKernelGsBase); // rdmsr IA32_GS_BASE reads the swapped-in base
}

TEST(UnicornSmp, LockCmpxchgOnMmioReadsThenWritesOnlyWhenItMatches) {
    Probe p = run();
    EXPECT_EQ(p.interrupt, -1);
    EXPECT_EQ(p.r11 & 0xff, 1u); // matched: ZF set
    EXPECT_EQ(p.r12, 7u);        // eax unchanged on success
    EXPECT_EQ(p.r13 & 0xff, 0u); // no match: ZF clear
    EXPECT_EQ(p.r14, 9u);        // eax gets the value found
    EXPECT_EQ(p.mmio_word, 9u);
    // Seen by the MMIO callbacks: a 4-byte read and a write for each, the failed one writing
    // back the value it found (as the SDM describes the locked form: "the destination operand
    // is written back if the comparison fails").
    ASSERT_EQ(p.accesses.size(), 6u); // then the xadd's two (below)
    bool writes[4] = {false, true, false, true};
    uint64_t values[4] = {7, 9, 9, 9};
    for (int i = 0; i < 4; ++i) {
        EXPECT_EQ(p.accesses[i].write, writes[i]) << i;
        EXPECT_EQ(p.accesses[i].value, values[i]) << i;
        EXPECT_EQ(p.accesses[i].size, 4u) << i;
        EXPECT_EQ(p.accesses[i].offset, 0u) << i;
    }
}

TEST(UnicornSmp, LockXaddOnMmioReturnsTheOldValueAndWritesTheSum) {
    Probe p = run();
    EXPECT_EQ(p.interrupt, -1);
    EXPECT_EQ(p.r15, 40u);         // ecx gets the ticket that was there
    EXPECT_EQ(p.mmio_ticket, 45u); // and the word the sum
    ASSERT_EQ(p.accesses.size(), 6u);
    EXPECT_FALSE(p.accesses[4].write);
    EXPECT_EQ(p.accesses[4].value, 40u);
    EXPECT_TRUE(p.accesses[5].write);
    EXPECT_EQ(p.accesses[5].value, 45u);
    for (int i = 4; i < 6; ++i) {
        EXPECT_EQ(p.accesses[i].size, 4u) << i;
        EXPECT_EQ(p.accesses[i].offset, 4u) << i;
    }
}
