/* Processes: creation, the round-robin scheduler, sleep/wakeup, fork, exit and wait.
 *
 * One CPU and a non-preemptible kernel (interrupts are off whenever kernel code runs), so no
 * locks: a process gives up the CPU only by calling sched(), from yield, sleep or exit. The
 * scheduler runs on its own stack (the boot stack) and swtch()es to the chosen process's
 * kernel stack, as in xv6. */
#include "kernel.h"
#include "x86.h"

struct proc procs[NPROC];
struct proc *cur;
struct proc *initproc;
u64 ticks;

/* Kernel stacks, one per process slot, in kernel data (16-byte aligned for the C ABI). */
static u8 kstacks[NPROC][KSTACK_SIZE] __attribute__((aligned(16)));
static u64 scheduler_sp;
static int next_pid = 1;
static const char ticks_chan; /* sleep(ticks) sleepers wait on this */

struct proc *proc_alloc(void) {
    for (int i = 0; i < NPROC; ++i) {
        struct proc *p = &procs[i];
        if (p->state != P_UNUSED)
            continue;
        memset(p, 0, sizeof *p);
        p->pid = next_pid++;
        p->state = P_EMBRYO;
        p->kstack_top = (u64)&kstacks[i][KSTACK_SIZE - sizeof(struct fpu_state)];
        fpu_init_state(proc_fpu(p));
        kstats.processes_created++;
        return p;
    }
    return 0;
}

/* Lays out p's kernel stack so that the scheduler's swtch into it "returns" to trapret,
 * which pops *tf and iretqs into user code. */
void proc_start(struct proc *p, const struct trapframe *tf) {
    u64 sp = p->kstack_top - sizeof *tf;
    memcpy((void *)sp, tf, sizeof *tf);
    sp -= 7 * 8; /* r15, r14, r13, r12, rbx, rbp, return address: what swtch pops */
    u64 *frame = (u64 *)sp;
    for (int i = 0; i < 6; ++i)
        frame[i] = 0;
    frame[6] = (u64)trapret;
    p->ksp = sp;
    p->state = P_RUNNABLE;
}

static int live_processes(int *timed_sleepers) {
    int n = 0;
    *timed_sleepers = 0;
    for (int i = 0; i < NPROC; ++i) {
        if (procs[i].state == P_UNUSED || procs[i].state == P_ZOMBIE)
            continue;
        ++n;
        if (procs[i].state == P_SLEEPING && procs[i].chan == &ticks_chan)
            ++*timed_sleepers;
    }
    return n;
}

void scheduler(void) {
    int last = NPROC - 1, prev_pid = 0;
    for (;;) {
        struct proc *p = 0;
        for (int k = 1; k <= NPROC; ++k) {
            int i = (last + k) % NPROC;
            if (procs[i].state == P_RUNNABLE) {
                p = &procs[i];
                last = i;
                break;
            }
        }
        if (!p) {
            int timed;
            if (live_processes(&timed) == 0)
                panic("no process left to run");
            if (timed == 0)
                panic("deadlock: every process waits and none for a timer tick");
            kstats.idle_halts++;
            idle_wait(); /* the engine skips ahead to the next tick */
            continue;
        }
        if (p->pid != prev_pid)
            kstats.context_switches++;
        prev_pid = p->pid;
        p->state = P_RUNNING;
        cur = p;
        set_kernel_stack(p->kstack_top);
        vm_activate(p->mm.pml4);
        fpu_switch_to(p);
        swtch(&scheduler_sp, p->ksp);
        cur = 0;
    }
}

static void sched(void) { swtch(&cur->ksp, scheduler_sp); }

void yield(void) {
    cur->state = P_RUNNABLE;
    sched();
}

void sleep_on(const void *chan) {
    cur->chan = chan;
    cur->state = P_SLEEPING;
    sched();
    cur->chan = 0;
}

void wakeup(const void *chan) {
    for (int i = 0; i < NPROC; ++i)
        if (procs[i].state == P_SLEEPING && procs[i].chan == chan)
            procs[i].state = P_RUNNABLE;
}

void sleep_ticks(u64 n) {
    cur->wake_tick = ticks + n;
    while (ticks < cur->wake_tick)
        sleep_on(&ticks_chan);
}

void timer_tick(void) {
    ++ticks;
    kstats.timer_ticks++;
    wakeup(&ticks_chan);
}

int proc_fork(struct trapframe *tf) {
    struct proc *np = proc_alloc();
    if (!np)
        return -VMMU_EAGAIN;
    np->mm = cur->mm;
    np->mm.pml4 = vm_fork(cur->mm.pml4);
    if (!np->mm.pml4) {
        np->state = P_UNUSED;
        return -VMMU_ENOMEM;
    }
    /* The parent's writable pages just became read-only: flush its stale TLB entries. */
    vm_flush_all(cur->mm.pml4);
    np->parent = cur;
    memcpy(np->name, cur->name, sizeof np->name);
    fpu_fork(np);
    struct trapframe child = *tf;
    child.rax = 0; /* fork returns 0 in the child */
    proc_start(np, &child);
    kstats.forks++;
    return np->pid;
}

void proc_exit(int status) {
    struct proc *p = cur;
    if (p == initproc)
        panic("init exited with status %d", status);
    /* Orphans go to init, which reaps whatever it finds. */
    for (int i = 0; i < NPROC; ++i) {
        if (procs[i].state != P_UNUSED && procs[i].parent == p) {
            procs[i].parent = initproc;
            if (procs[i].state == P_ZOMBIE)
                wakeup(initproc);
        }
    }
    /* Leave the address space before freeing it; the kernel half is the same everywhere. */
    switch_cr3(kernel_pml4);
    vm_free(p->mm.pml4);
    p->mm.pml4 = 0;
    fpu_release(p);
    p->exit_status = status;
    p->state = P_ZOMBIE;
    kstats.exits++;
    wakeup(p->parent);
    sched();
    panic("zombie %d ran again", p->pid);
}

int proc_wait(u64 status_uva) {
    if (status_uva && !user_range_ok(status_uva, sizeof(int), 1))
        return -VMMU_EFAULT;
    for (;;) {
        int have_children = 0;
        for (int i = 0; i < NPROC; ++i) {
            struct proc *q = &procs[i];
            if (q->state == P_UNUSED || q->parent != cur)
                continue;
            have_children = 1;
            if (q->state != P_ZOMBIE)
                continue;
            int pid = q->pid;
            if (status_uva)
                *(int *)status_uva = q->exit_status;
            q->state = P_UNUSED;
            q->parent = 0;
            return pid;
        }
        if (!have_children)
            return -VMMU_ECHILD;
        sleep_on(cur);
    }
}
