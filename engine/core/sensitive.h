// Finding the instructions a hypervisor intercepts in the kernel's text with Capstone, once at
// load time, so each can be hooked at its own address (docs/UNICORN-2.0.1.md, fact 14).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vmmu {

enum class SensitiveKind : uint8_t {
    MovToCr3,
    MovFromCr3,
    MovToCr0,
    MovToCr4,
    MovFromCr, // cr0/cr2/cr4 reads
    Invlpg,
    Hlt,
    Wrmsr,
    Rdmsr,
    Cpuid,
    DescriptorTable, // lgdt, lidt, ltr, lldt
    Invpcid,
    Wbinvd,
};

// An operand as Unicorn register ids: a register, or a memory reference base + index*scale + disp.
struct OperandRef {
    int reg = 0; // UC_X86_REG_*, 0 if none
    int base = 0, index = 0;
    int scale = 1;
    int64_t disp = 0;
    bool rip_relative = false;
};

struct SensitiveInsn {
    uint64_t address = 0;
    uint32_t length = 0;
    SensitiveKind kind{};
    std::string text;   // "mov cr3, rax"
    OperandRef operand; // source register of mov crN, memory operand of invlpg
};

// Decodes [begin, begin + size) as x86-64 code at guest address `begin`.
std::vector<SensitiveInsn> find_sensitive(const uint8_t* code, uint64_t size, uint64_t begin);

// Disassembles one instruction at `address` ("" if it cannot be decoded).
std::string disassemble_one(const uint8_t* code, uint64_t size, uint64_t address);

// Length in bytes of the instruction at `address` (0 if it cannot be decoded).
uint32_t instruction_length(const uint8_t* code, uint64_t size, uint64_t address);

// Counts the instructions in [address, address + size) (decoding stops at the first bad byte).
uint32_t count_instructions(const uint8_t* code, uint64_t size, uint64_t address);

} // namespace vmmu
