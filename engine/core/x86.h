// Every x86 architectural constant the engine uses, in one place (Intel SDM vol. 3): page-table
// entry bits, control-register, EFER and RFLAGS bits, MSR numbers and exception vectors. Code
// names these instead of writing bit numbers.
#pragma once

#include <cstdint>

namespace vmmu::x86 {

// Page-table entry bits (SDM 4.5, tables 4-14 to 4-20).
constexpr uint64_t kPteP = 1ull << 0;
constexpr uint64_t kPteW = 1ull << 1;
constexpr uint64_t kPteU = 1ull << 2;
constexpr uint64_t kPtePwt = 1ull << 3;
constexpr uint64_t kPtePcd = 1ull << 4;
constexpr uint64_t kPteA = 1ull << 5;
constexpr uint64_t kPteD = 1ull << 6;
constexpr uint64_t kPtePs = 1ull << 7;
constexpr uint64_t kPteG = 1ull << 8;
constexpr uint64_t kPteNx = 1ull << 63;
// Physical-address bits of an entry (MAXPHYADDR 52).
constexpr uint64_t kPteAddrMask = 0x000f'ffff'ffff'f000ull;

constexpr uint64_t kCr0Pe = 1ull << 0, kCr0Mp = 1ull << 1, kCr0Et = 1ull << 4, kCr0Ne = 1ull << 5;
constexpr uint64_t kCr0Pg = 1ull << 31;
constexpr uint64_t kCr0Wp = 1ull << 16;
constexpr uint64_t kCr4Pae = 1ull << 5;
constexpr uint64_t kCr4Pge = 1ull << 7;
constexpr uint64_t kCr4Pcide = 1ull << 17;
// CR3: bits 11:0 are the PCID when CR4.PCIDE=1; bit 63 on a write means "keep the PCID's TLB".
constexpr uint64_t kCr3PcidMask = 0xfffull;
constexpr uint64_t kCr3NoFlush = 1ull << 63;
// CR4 bits the boot state sets besides PAE/PGE: OSFXSR and OSXMMEXCPT (SSE enabled).
constexpr uint64_t kCr4Osfxsr = 1ull << 9;
constexpr uint64_t kCr4Osxmmexcpt = 1ull << 10;

// EFER (SDM 2.2.1): SYSCALL enable, long mode enable/active, no-execute enable.
constexpr uint64_t kEferSce = 1ull << 0;
constexpr uint64_t kEferLme = 1ull << 8;
constexpr uint64_t kEferLma = 1ull << 10;
constexpr uint64_t kEferNxe = 1ull << 11;

// RFLAGS (SDM vol. 1, 3.4.3).
constexpr uint64_t kRflagsFixed = 1ull << 1; // reads as 1
constexpr uint64_t kRflagsTf = 1ull << 8;
constexpr uint64_t kRflagsIf = 1ull << 9;
constexpr uint64_t kRflagsNt = 1ull << 14;
constexpr uint64_t kRflagsRf = 1ull << 16;

// MSRs (SDM vol. 4).
constexpr uint32_t kMsrEfer = 0xc0000080;
constexpr uint32_t kMsrLstar = 0xc0000082;
constexpr uint32_t kMsrFmask = 0xc0000084;
constexpr uint32_t kMsrFsBase = 0xc0000100;
constexpr uint32_t kMsrGsBase = 0xc0000101;
constexpr uint32_t kMsrKernelGsBase = 0xc0000102;

// Exception vectors (SDM 6.3.1).
constexpr uint8_t kVecDe = 0, kVecUd = 6, kVecDf = 8, kVecTs = 10, kVecNp = 11, kVecSs = 12,
                  kVecGp = 13, kVecPf = 14, kVecAc = 17;
// IDT gate types (SDM 6.14.1): an interrupt gate clears IF, a trap gate does not.
constexpr unsigned kGateInterrupt = 0xe, kGateTrap = 0xf;
// 64-bit TSS (SDM 8.7): RSP0, IST1 (IST n at kTssIst1 + 8 (n - 1)), and the smallest limit.
constexpr uint64_t kTssRsp0 = 0x4, kTssIst1 = 0x24, kTssMinLimit = 0x67;
// #PF error code bit: a reserved bit was set in a paging entry (SDM 4.7).
constexpr uint32_t kPfRsvd = 1u << 3;
// The hlt opcode: the run loop tells a halt by the byte before RIP.
constexpr uint8_t kOpHlt = 0xf4;

// Exceptions that push an error code (SDM 6.13): #DF, #TS, #NP, #SS, #GP, #PF, #AC.
constexpr bool pushes_error_code(uint8_t vector) {
    return vector == kVecDf || vector == kVecTs || vector == kVecNp || vector == kVecSs ||
           vector == kVecGp || vector == kVecPf || vector == kVecAc;
}

static_assert((kPteAddrMask & (kPteP | kPteW | kPteU | kPteA | kPteD | kPtePs | kPteG)) == 0,
              "flag bits lie outside an entry's address bits");
static_assert((kCr3PcidMask & kPteAddrMask) == 0, "the PCID lies below CR3's root address");

} // namespace vmmu::x86
