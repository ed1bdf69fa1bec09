#include "engine/core/sensitive.h"

#include <capstone/capstone.h>
#include <fmt/format.h>
#include <unicorn/unicorn.h>

#include <stdexcept>

namespace vmmu {
namespace {

// One Capstone handle per thread, detail mode on.
class Disassembler {
public:
    Disassembler() {
        if (cs_open(CS_ARCH_X86, CS_MODE_64, &handle_) != CS_ERR_OK)
            throw std::runtime_error("capstone: cannot open an x86-64 disassembler");
        cs_option(handle_, CS_OPT_DETAIL, CS_OPT_ON);
        insn_ = cs_malloc(handle_);
    }
    ~Disassembler() {
        cs_free(insn_, 1);
        cs_close(&handle_);
    }
    csh handle() const { return handle_; }
    cs_insn* insn() const { return insn_; }

private:
    csh handle_ = 0;
    cs_insn* insn_ = nullptr;
};

Disassembler& disassembler() {
    thread_local Disassembler d;
    return d;
}

int uc_gpr(x86_reg r) {
    switch (r) {
    case X86_REG_RAX:
        return UC_X86_REG_RAX;
    case X86_REG_RBX:
        return UC_X86_REG_RBX;
    case X86_REG_RCX:
        return UC_X86_REG_RCX;
    case X86_REG_RDX:
        return UC_X86_REG_RDX;
    case X86_REG_RSI:
        return UC_X86_REG_RSI;
    case X86_REG_RDI:
        return UC_X86_REG_RDI;
    case X86_REG_RBP:
        return UC_X86_REG_RBP;
    case X86_REG_RSP:
        return UC_X86_REG_RSP;
    case X86_REG_R8:
        return UC_X86_REG_R8;
    case X86_REG_R9:
        return UC_X86_REG_R9;
    case X86_REG_R10:
        return UC_X86_REG_R10;
    case X86_REG_R11:
        return UC_X86_REG_R11;
    case X86_REG_R12:
        return UC_X86_REG_R12;
    case X86_REG_R13:
        return UC_X86_REG_R13;
    case X86_REG_R14:
        return UC_X86_REG_R14;
    case X86_REG_R15:
        return UC_X86_REG_R15;
    case X86_REG_RIP:
        return UC_X86_REG_RIP;
    default:
        return 0;
    }
}

OperandRef operand_of(const cs_x86_op& op) {
    OperandRef o;
    if (op.type == X86_OP_REG) {
        o.reg = uc_gpr(op.reg);
    } else if (op.type == X86_OP_MEM) {
        o.base = uc_gpr(op.mem.base);
        o.index = uc_gpr(op.mem.index);
        o.scale = op.mem.scale;
        o.disp = op.mem.disp;
        o.rip_relative = op.mem.base == X86_REG_RIP;
    }
    return o;
}

bool is_cr(x86_reg r, int n) { return r == X86_REG_CR0 + n; }

} // namespace

std::vector<SensitiveInsn> find_sensitive(const uint8_t* code, uint64_t size, uint64_t begin) {
    auto& d = disassembler();
    std::vector<SensitiveInsn> out;
    const uint8_t* p = code;
    size_t left = size;
    uint64_t addr = begin;
    while (left > 0) {
        cs_insn* in = d.insn();
        if (!cs_disasm_iter(d.handle(), &p, &left, &addr, in)) {
            // Data or padding inside text: skip a byte and resynchronise.
            ++p;
            --left;
            ++addr;
            continue;
        }
        const cs_x86& x = in->detail->x86;
        SensitiveInsn s;
        s.address = in->address;
        s.length = in->size;
        s.text = fmt::format("{} {}", in->mnemonic, in->op_str);
        bool hit = true;
        switch (in->id) {
        case X86_INS_MOV:
            if (x.op_count == 2 && x.operands[0].type == X86_OP_REG &&
                x.operands[0].reg >= X86_REG_CR0 && x.operands[0].reg <= X86_REG_CR15) {
                auto cr = x.operands[0].reg;
                s.kind = is_cr(cr, 3)   ? SensitiveKind::MovToCr3
                         : is_cr(cr, 4) ? SensitiveKind::MovToCr4
                                        : SensitiveKind::MovToCr0;
                s.operand = operand_of(x.operands[1]);
            } else if (x.op_count == 2 && x.operands[1].type == X86_OP_REG &&
                       x.operands[1].reg >= X86_REG_CR0 && x.operands[1].reg <= X86_REG_CR15) {
                s.kind = is_cr(x.operands[1].reg, 3) ? SensitiveKind::MovFromCr3
                                                     : SensitiveKind::MovFromCr;
                s.operand = operand_of(x.operands[0]);
            } else {
                hit = false;
            }
            break;
        case X86_INS_INVLPG:
            s.kind = SensitiveKind::Invlpg;
            s.operand = operand_of(x.operands[0]);
            break;
        case X86_INS_HLT:
            s.kind = SensitiveKind::Hlt;
            break;
        case X86_INS_WRMSR:
            s.kind = SensitiveKind::Wrmsr;
            break;
        case X86_INS_RDMSR:
            s.kind = SensitiveKind::Rdmsr;
            break;
        case X86_INS_CPUID:
            s.kind = SensitiveKind::Cpuid;
            break;
        case X86_INS_LGDT:
        case X86_INS_LIDT:
        case X86_INS_LTR:
        case X86_INS_LLDT:
            s.kind = SensitiveKind::DescriptorTable;
            break;
        case X86_INS_INVPCID:
            s.kind = SensitiveKind::Invpcid;
            break;
        case X86_INS_WBINVD:
            s.kind = SensitiveKind::Wbinvd;
            break;
        default:
            hit = false;
        }
        if (hit) out.push_back(std::move(s));
    }
    return out;
}

std::string disassemble_one(const uint8_t* code, uint64_t size, uint64_t address) {
    auto& d = disassembler();
    size_t left = size;
    uint64_t addr = address;
    if (!cs_disasm_iter(d.handle(), &code, &left, &addr, d.insn())) return "";
    return fmt::format("{} {}", d.insn()->mnemonic, d.insn()->op_str);
}

uint32_t instruction_length(const uint8_t* code, uint64_t size, uint64_t address) {
    auto& d = disassembler();
    size_t left = size;
    uint64_t addr = address;
    if (!cs_disasm_iter(d.handle(), &code, &left, &addr, d.insn())) return 0;
    return d.insn()->size;
}

uint32_t count_instructions(const uint8_t* code, uint64_t size, uint64_t address) {
    auto& d = disassembler();
    size_t left = size;
    uint64_t addr = address;
    uint32_t n = 0;
    while (left > 0 && cs_disasm_iter(d.handle(), &code, &left, &addr, d.insn())) ++n;
    return n;
}

} // namespace vmmu
