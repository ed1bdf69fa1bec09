/* Thin wrappers over the privileged x86-64 instructions the kernel uses (Intel SDM vol. 2).
 * The engine spots each of these in the kernel text and observes it; they run natively. */
#ifndef KERNEL_X86_H
#define KERNEL_X86_H

#include "types.h"

#define MSR_STAR 0xc0000081u    /* SYSCALL: STAR[47:32] = kernel CS (SS = CS + 8) */
#define MSR_LSTAR 0xc0000082u   /* SYSCALL: 64-bit entry point */
#define MSR_SFMASK 0xc0000084u  /* SYSCALL: RFLAGS bits to clear on entry */
#define MSR_GS_BASE 0xc0000101u /* per-CPU area, reached with %gs: in the syscall stub */

#define RFLAGS_IF 0x200ULL
#define RFLAGS_TF 0x100ULL
#define RFLAGS_DF 0x400ULL
#define RFLAGS_NT 0x4000ULL
#define RFLAGS_AC 0x40000ULL
#define RFLAGS_RESERVED1 0x2ULL /* bit 1 always reads as 1 */

static inline u64 read_cr2(void) {
    u64 v;
    __asm__ volatile("mov %%cr2, %0" : "=r"(v));
    return v;
}

static inline u64 read_cr3(void) {
    u64 v;
    __asm__ volatile("mov %%cr3, %0" : "=r"(v));
    return v;
}

/* Loading CR3 flushes every non-global TLB entry (SDM 4.10.4.1). */
static inline void write_cr3(u64 v) { __asm__ volatile("mov %0, %%cr3" : : "r"(v) : "memory"); }

/* Drops the TLB entry (and paging-structure cache entries) for one page (SDM 4.10.4.1). */
static inline void invlpg(u64 va) { __asm__ volatile("invlpg (%0)" : : "r"(va) : "memory"); }

static inline void wrmsr(u32 msr, u64 v) {
    __asm__ volatile("wrmsr" : : "c"(msr), "a"((u32)v), "d"((u32)(v >> 32)));
}

static inline void outl(u16 port, u32 v) { __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }

/* The spin-wait hint (SDM vol. 2, PAUSE). */
static inline void cpu_relax(void) { __asm__ volatile("pause" : : : "memory"); }

/* Atomic read-modify-writes on shared words (SDM vol. 2, LOCK prefix; XCHG locks by itself). */
static inline u32 xchg32(volatile u32 *p, u32 v) {
    __asm__ volatile("xchgl %0, %1" : "+r"(v), "+m"(*p) : : "memory");
    return v;
}
static inline void atomic_or32(volatile u32 *p, u32 v) {
    __asm__ volatile("lock orl %1, %0" : "+m"(*p) : "r"(v) : "memory", "cc");
}
static inline void atomic_and32(volatile u32 *p, u32 v) {
    __asm__ volatile("lock andl %1, %0" : "+m"(*p) : "r"(v) : "memory", "cc");
}
static inline u32 atomic_fetch_add32(volatile u32 *p, u32 v) {
    __asm__ volatile("lock xaddl %0, %1" : "+r"(v), "+m"(*p) : : "memory", "cc");
    return v;
}
static inline u32 atomic_cmpxchg32(volatile u32 *p, u32 expected, u32 desired) {
    __asm__ volatile("lock cmpxchgl %2, %1" : "+a"(expected), "+m"(*p) : "r"(desired) : "memory", "cc");
    return expected;
}

static inline void outb(u16 port, u8 v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }

/* Wait for the next timer tick with interrupts enabled; sti's one-instruction shadow makes the
 * pair atomic (SDM vol. 2, STI), so a tick cannot slip in between and be missed. */
static inline void idle_wait(void) { __asm__ volatile("sti; hlt; cli" : : : "memory"); }

#endif
