/* Per-process x87/SSE state (Intel SDM vol. 1, 10.5: FXSAVE and FXRSTOR).
 *
 * The kernel itself is built without SSE or x87 code (workloads/guest.cmake), so the FPU
 * registers only ever hold user state. The engine's boot state enables them (CR0.MP and NE set,
 * EM and TS clear; CR4.OSFXSR and OSXMMEXCPT set: engine/core/vcpu.cpp), so user code may use
 * SSE2 from its first instruction.
 *
 * Switching is eager, as Linux has done since 4.6 (lazy switching through CR0.TS and #NM was
 * dropped there in 4.14, after the LazyFP leak, CVE-2018-3665): the scheduler restores the
 * chosen process's state before it runs, never in a #NM handler. What keeps it cheap is the
 * owner: the registers belong to `fpu_owner`, and a switch back to the process whose state is
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

static struct proc *fpu_owner; /* whose state the CPU's registers hold; 0: nobody's */

static inline void fxsave(struct fpu_state *f) { __asm__ volatile("fxsave64 %0" : "=m"(*f)); }
static inline void fxrstor(const struct fpu_state *f) {
    __asm__ volatile("fxrstor64 %0" : : "m"(*f));
}

void fpu_init_state(struct fpu_state *f) {
    memset(f, 0, sizeof *f);
    u16 fcw = FCW_DEFAULT;
    u32 mxcsr = MXCSR_DEFAULT;
    memcpy(&f->bytes[FX_FCW], &fcw, sizeof fcw);
    memcpy(&f->bytes[FX_MXCSR], &mxcsr, sizeof mxcsr);
}

void fpu_switch_to(struct proc *p) {
    if (fpu_owner == p)
        return;
    if (fpu_owner)
        fxsave(proc_fpu(fpu_owner));
    fxrstor(proc_fpu(p));
    fpu_owner = p;
    kstats.fpu_switches++;
}

/* The running process owns the registers (the scheduler gave them to it), so its current state
 * is in the CPU, not in its save area. */
void fpu_fork(struct proc *child) { fxsave(proc_fpu(child)); }

void fpu_exec(struct proc *p) {
    fpu_init_state(proc_fpu(p));
    if (fpu_owner == p)
        fxrstor(proc_fpu(p));
}

void fpu_release(struct proc *p) {
    if (fpu_owner == p)
        fpu_owner = 0;
}
