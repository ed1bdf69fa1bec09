/* Per-process x87/SSE state (Intel SDM vol. 1, 10.5: FXSAVE and FXRSTOR).
 *
 * The kernel itself is built without SSE or x87 code (workloads/guest.cmake), so the FPU
 * registers only ever hold user state. fpu_init_cpu enables them at boot as Linux's
 * fpu__init_cpu does: CR0.MP and NE set, EM and TS clear (x87 present, native error reporting,
 * no #NM traps), CR4.OSFXSR (FXSAVE/FXRSTOR and SSE) and OSXMMEXCPT (SSE exceptions as #XM).
 * The engine's boot state already has these bits (engine/core/vcpu.cpp); the kernel sets them
 * itself rather than rely on that, and writes each register only if a bit is missing (a CR
 * write is a VM exit under shadow paging).
 *
 * Switching is eager, as Linux has done since 4.6 (lazy switching through CR0.TS and #NM was
 * dropped there in 4.14, after the LazyFP leak, CVE-2018-3665): the scheduler restores the
 * chosen process's state before it runs, never in a #NM handler. What keeps it cheap is the
 * owner: the registers belong to its CPU's `fpu_owner` (struct cpu), and a switch back to the process whose state is
 * still loaded (the scheduler picked the same process again) costs nothing. Linux keeps the
 * same record per CPU (fpu_fpregs_owner_ctx). Lazy switching would save the 512-byte
 * FXSAVE/FXRSTOR on switches between processes that never touch the FPU, but adds a trap and a
 * CR0 write (a VM exit under shadow paging) at the first FP instruction after each switch; with
 * every user program free to use SSE2 (the compiler emits it for copies and conversions), eager
 * is the simpler and the more common design.
 *
 * A new process starts from the state FNINIT and the default MXCSR give (FCW 0x037f, all x87
 * registers empty, MXCSR 0x1f80: every exception masked, round to nearest); fork copies the
 * parent's state, exec resets it, as Linux does (fpu_clone, fpu__clear_user_states). */
#include "kernel.h"

/* Offsets in the FXSAVE image (SDM vol. 1, table 10-2). */
#define FX_FCW 0
#define FX_MXCSR 24
#define FCW_DEFAULT 0x037f
#define MXCSR_DEFAULT 0x1f80

#define CR0_MP (1ULL << 1)
#define CR0_EM (1ULL << 2)
#define CR0_TS (1ULL << 3)
#define CR0_NE (1ULL << 5)
#define CR4_OSFXSR (1ULL << 9)
#define CR4_OSXMMEXCPT (1ULL << 10)


static inline void fxsave(struct fpu_state *f) { __asm__ volatile("fxsave64 %0" : "=m"(*f)); }
static inline void fxrstor(const struct fpu_state *f) {
    __asm__ volatile("fxrstor64 %0" : : "m"(*f));
}

void fpu_init_cpu(void) {
    u64 cr0, cr4;
    __asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
    u64 want0 = (cr0 | CR0_MP | CR0_NE) & ~(CR0_EM | CR0_TS);
    if (want0 != cr0)
        __asm__ volatile("mov %0, %%cr0" : : "r"(want0) : "memory");
    __asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
    u64 want4 = cr4 | CR4_OSFXSR | CR4_OSXMMEXCPT;
    if (want4 != cr4)
        __asm__ volatile("mov %0, %%cr4" : : "r"(want4) : "memory");
}

void fpu_init_state(struct fpu_state *f) {
    memset(f, 0, sizeof *f);
    u16 fcw = FCW_DEFAULT;
    u32 mxcsr = MXCSR_DEFAULT;
    memcpy(&f->bytes[FX_FCW], &fcw, sizeof fcw);
    memcpy(&f->bytes[FX_MXCSR], &mxcsr, sizeof mxcsr);
}

void fpu_switch_to(struct proc *p) {
    struct cpu *c = mycpu();
    if (c->fpu_owner == p)
        return;
    if (c->fpu_owner)
        fxsave(proc_fpu(c->fpu_owner));
    fxrstor(proc_fpu(p));
    c->fpu_owner = p;
    kstats.fpu_switches++;
}

/* With one CPU a process's state may stay in the registers while others that use no FPU run
 * (the skip above). With several, the process may next run on another CPU, which loads it from
 * the save area: save it as it leaves this one (the scheduler calls this with the process table
 * locked, so an exited process's slot is not reused meanwhile). */
void fpu_leave(struct proc *p) {
    struct cpu *c = mycpu();
    if (ncpus > 1 && c->fpu_owner == p) {
        fxsave(proc_fpu(p));
        c->fpu_owner = 0;
    }
}

/* The running process owns the registers (the scheduler gave them to it), so its current state
 * is in the CPU, not in its save area. */
void fpu_fork(struct proc *child) { fxsave(proc_fpu(child)); }

void fpu_exec(struct proc *p) {
    fpu_init_state(proc_fpu(p));
    if (mycpu()->fpu_owner == p)
        fxrstor(proc_fpu(p));
}

void fpu_release(struct proc *p) {
    if (mycpu()->fpu_owner == p)
        mycpu()->fpu_owner = 0;
}
