#include "engine/core/qemu_state.h"

#include "engine/core/paging.h"

#include <fmt/format.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace vmmu {
namespace {

void check(uc_err err, const char* what) {
    if (err != UC_ERR_OK)
        throw std::runtime_error(fmt::format("unicorn probe: {}: {}", what, uc_strerror(err)));
}

std::vector<int32_t> snapshot(uc_engine* uc, uc_context* ctx) {
    check(uc_context_save(uc, ctx), "context save");
    size_t n = uc_context_size(uc) / sizeof(int32_t);
    std::vector<int32_t> words(n);
    std::memcpy(words.data(), ctx, n * sizeof(int32_t));
    return words;
}

void on_probe_fault(uc_engine* uc, uint32_t, void*) { uc_emu_stop(uc); }

QemuStateOffsets calibrate() {
    uc_engine* uc = nullptr;
    check(uc_open(UC_ARCH_X86, UC_MODE_64, &uc), "open");
    constexpr uint64_t kRam =
        8 << 20; // the faulting address must lie in mapped memory (docs/UNICORN-2.0.1.md, fact 2)
    check(uc_mem_map(uc, 0, kRam, UC_PROT_ALL), "map");
    // PML4 at 0x10000 -> PDPT 0x11000 -> PD 0x12000: [0,2M) RW, [2M,4M) read-only, 4M+ absent.
    uint64_t pml4 = 0x11000 | x86::kPteP | x86::kPteW, pdpt = 0x12000 | x86::kPteP | x86::kPteW;
    uint64_t pd[2] = {0 | x86::kPteP | x86::kPteW | x86::kPtePs,
                      0x200000 | x86::kPteP | x86::kPtePs};
    check(uc_mem_write(uc, 0x10000, &pml4, 8), "pml4");
    check(uc_mem_write(uc, 0x11000, &pdpt, 8), "pdpt");
    check(uc_mem_write(uc, 0x12000, pd, sizeof pd), "pd");
    // mov [rbx], al ; mov al, [rcx] ; mov [rdx], al  -- one fault each, resumed past by hand.
    const uint8_t code[] = {0x88, 0x03, 0x8a, 0x01, 0x88, 0x02, 0xf4};
    check(uc_mem_write(uc, 0x1000, code, sizeof code), "code");
    uint64_t cr3 = 0x10000, cr4 = x86::kCr4Pae, cr0 = x86::kCr0Pg | x86::kCr0Wp | 1 | (1 << 5);
    uint64_t rbx = 0x400000, rcx = 0x400000, rdx = 0x200000;
    uc_x86_msr efer{x86::kMsrEfer, x86::kEferLme | x86::kEferLma};
    check(uc_reg_write(uc, UC_X86_REG_CR3, &cr3), "cr3");
    check(uc_reg_write(uc, UC_X86_REG_CR4, &cr4), "cr4");
    check(uc_reg_write(uc, UC_X86_REG_MSR, &efer), "efer");
    check(uc_reg_write(uc, UC_X86_REG_CR0, &cr0), "cr0");
    check(uc_reg_write(uc, UC_X86_REG_RBX, &rbx), "rbx");
    check(uc_reg_write(uc, UC_X86_REG_RCX, &rcx), "rcx");
    check(uc_reg_write(uc, UC_X86_REG_RDX, &rdx), "rdx");
    uc_hook hook;
    check(uc_hook_add(uc, &hook, UC_HOOK_INTR, reinterpret_cast<void*>(on_probe_fault), nullptr, 1,
                      0),
          "hook");
    uc_context* ctx = nullptr;
    check(uc_context_alloc(uc, &ctx), "context alloc");

    auto before = snapshot(uc, ctx);
    const uint64_t starts[3] = {0x1000, 0x1002, 0x1004};
    // Write to an absent page, read from an absent page, write to a read-only page.
    const int32_t expect_code[3] = {2, 0, 3};
    uc_context* clean = nullptr;
    check(uc_context_alloc(uc, &clean), "context alloc");
    check(uc_context_save(uc, clean), "context save");
    std::vector<std::vector<int32_t>> after;
    for (int i = 0; i < 3; ++i) {
        check(uc_context_restore(uc, clean), "restore");
        check(uc_emu_start(uc, starts[i], 0x1006, 0, 1), "probe run");
        after.push_back(snapshot(uc, ctx));
    }
    uc_context_free(clean);
    QemuStateOffsets off{};
    int found_old = 0, found_code = 0;
    for (size_t w = 0; w < before.size(); ++w) {
        if (before[w] == -1 && after[0][w] == x86::kVecPf) {
            off.old_exception = w * sizeof(int32_t);
            ++found_old;
        }
        if (after[0][w] == expect_code[0] && after[1][w] == expect_code[1] &&
            after[2][w] == expect_code[2]) {
            off.error_code = w * sizeof(int32_t);
            ++found_code;
        }
    }
    uc_context_free(ctx);
    uc_close(uc);
    if (found_old != 1 || found_code != 1)
        throw std::runtime_error(fmt::format(
            "cannot locate QEMU's old_exception/error_code in Unicorn's CPU context ({} / {} "
            "candidates): this Unicorn build differs from 2.0.1",
            found_old, found_code));
    return off;
}

} // namespace

const QemuStateOffsets& qemu_state_offsets() {
    static const QemuStateOffsets offsets = calibrate();
    return offsets;
}

uint32_t take_exception_state(uc_engine* uc, uc_context* scratch) {
    const auto& off = qemu_state_offsets();
    uc_context_save(uc, scratch);
    auto* bytes = reinterpret_cast<uint8_t*>(scratch);
    int32_t code, none = -1;
    std::memcpy(&code, bytes + off.error_code, sizeof code);
    std::memcpy(bytes + off.old_exception, &none, sizeof none);
    uc_context_restore(uc, scratch);
    return static_cast<uint32_t>(code);
}

} // namespace vmmu
