/* Processes and threads: creation, the scheduler, sleep/wakeup, fork, clone, exit, wait, join.
 *
 * Every CPU runs scheduler() on its own stack and swtch()es to the chosen process's kernel stack,
 * as in xv6. One run queue is shared by all CPUs: a FIFO of RUNNABLE processes (yield, wakeup
 * and a new process append, a scheduler takes the head), so a process runs on whichever CPU is
 * free next (it migrates) and a yield costs the same whatever the number of processes.
 * ptable_lock guards every process's state, the run queue, sleep/wakeup and
 * the parent links; a process holds it across swtch into the scheduler, which releases it
 * (and a new process releases it in forkret). The kernel is not preemptible: interrupts are off
 * whenever kernel code runs, so a process gives up its CPU only in sched(), from yield, sleep
 * or exit. A thread is a process that shares its creator's mm (proc_clone). */
#include "kernel.h"
#include "x86.h"

struct proc procs[NPROC];
struct proc *initproc;
u64 ticks;
static struct spinlock ptable_lock = SPINLOCK("ptable");

/* Kernel stacks, one per process slot, in kernel data (16-byte aligned for the C ABI). */
static u8 kstacks[NPROC][KSTACK_SIZE] __attribute__((aligned(16)));
static int next_pid = 1;
static struct proc *runq_head, *runq_tail; /* the shared run queue, linked through run_next */
static const char ticks_chan;    /* sleep(ticks) sleepers wait on this */

struct proc *proc_alloc(void) {
    spin_lock(&ptable_lock);
    for (int i = 0; i < NPROC; ++i) {
        struct proc *p = &procs[i];
        if (p->state != P_UNUSED)
            continue;
        memset(p, 0, sizeof *p);
        p->pid = next_pid++;
        p->state = P_EMBRYO;
        p->kstack_top = (u64)&kstacks[i][KSTACK_SIZE - sizeof(struct fpu_state)];
        fpu_init_state(proc_fpu(p));
        p->last_cpu = -1;
        spin_unlock(&ptable_lock);
        kstats.processes_created++;
        return p;
    }
    spin_unlock(&ptable_lock);
    return 0;
}

/* With the table locked: p becomes RUNNABLE at the tail of the run queue, and a halted CPU is
 * woken to take it. */
static void make_runnable(struct proc *p) {
    p->state = P_RUNNABLE;
    p->run_next = 0;
    if (runq_tail)
        runq_tail->run_next = p;
    else
        runq_head = p;
    runq_tail = p;
    kick_idle_cpu();
}

static struct proc *runq_take(void) {
    struct proc *p = runq_head;
    if (p) {
        runq_head = p->run_next;
        if (!runq_head)
            runq_tail = 0;
        p->run_next = 0;
    }
    return p;
}

/* A slot proc_alloc handed out that will not run after all. */
static void proc_free_embryo(struct proc *p) {
    spin_lock(&ptable_lock);
    p->state = P_UNUSED;
    spin_unlock(&ptable_lock);
}

/* A new process's first code: the scheduler switched to it holding the process table. */
static void forkret(void) { spin_unlock(&ptable_lock); }

/* Lays out p's kernel stack so that the scheduler's swtch into it "returns" to forkret and then
 * to trapret, which pops *tf and iretqs into user code. */
void proc_start(struct proc *p, const struct trapframe *tf) {
    u64 sp = p->kstack_top - sizeof *tf;
    memcpy((void *)sp, tf, sizeof *tf);
    sp -= 8 * 8; /* r15, r14, r13, r12, rbx, rbp, then forkret and trapret: what swtch pops */
    u64 *frame = (u64 *)sp;
    for (int i = 0; i < 6; ++i)
        frame[i] = 0;
    frame[6] = (u64)forkret;
    frame[7] = (u64)trapret;
    p->ksp = sp;
    spin_lock(&ptable_lock);
    make_runnable(p);
    spin_unlock(&ptable_lock);
}

/* With the table locked: is anything left that could ever run? */
static void check_deadlock(void) {
    int live = 0, running = 0, timed = 0;
    for (int i = 0; i < NPROC; ++i) {
        struct proc *p = &procs[i];
        if (p->state == P_UNUSED || p->state == P_ZOMBIE)
            continue;
        ++live;
        running += p->state == P_RUNNING || p->state == P_EMBRYO;
        timed += p->state == P_SLEEPING && p->chan == &ticks_chan;
    }
    if (live == 0)
        panic("no process left to run");
    if (running == 0 && timed == 0)
        panic("deadlock: every process waits and none for a timer tick");
}

void scheduler(void) {
    struct cpu *c = mycpu();
    int prev_pid = 0;
    spin_lock(&ptable_lock);
    for (;;) {
        struct proc *p = runq_take();
        if (!p) {
            check_deadlock();
            kstats.idle_halts++;
            /* Lazy TLB: keep CR3 while idle (smp.c). */
            tlb_enter_lazy();
            c->idle = 1;
            spin_unlock(&ptable_lock);
            idle_wait(); /* until this CPU's timer tick or an IPI */
            spin_lock(&ptable_lock);
            c->idle = 0;
            c->kicked = 0;
            continue;
        }
        if (p->pid != prev_pid)
            kstats.context_switches++;
        prev_pid = p->pid;
        if (p->last_cpu >= 0 && p->last_cpu != (int)c->id)
            kstats.migrations++;
        p->last_cpu = (int)c->id;
        p->state = P_RUNNING;
        c->proc = p;
        set_kernel_stack(p->kstack_top);
        if (tlb_leave_lazy())
            switch_cr3(p->mm->pml4); /* a flush was deferred while this CPU idled */
        else
            vm_activate(p->mm->pml4);
        fpu_switch_to(p);
        swtch(&c->scheduler_sp, p->ksp);
        fpu_leave(p);
        c->proc = 0;
    }
}

/* Back to this CPU's scheduler, ptable_lock held; returns (perhaps on another CPU) when the
 * scheduler picks this process again. */
static void sched(void) {
    struct proc *p = cur;
    swtch(&p->ksp, mycpu()->scheduler_sp);
}

void yield(void) {
    spin_lock(&ptable_lock);
    make_runnable(cur);
    sched();
    spin_unlock(&ptable_lock);
}

/* ptable_lock held. */
static void sleep_locked(const void *chan) {
    struct proc *p = cur;
    p->chan = chan;
    p->state = P_SLEEPING;
    sched();
    p->chan = 0;
}

static void wakeup_locked(const void *chan) {
    for (int i = 0; i < NPROC; ++i)
        if (procs[i].state == P_SLEEPING && procs[i].chan == chan)
            make_runnable(&procs[i]);
}

void wakeup(const void *chan) {
    spin_lock(&ptable_lock);
    wakeup_locked(chan);
    spin_unlock(&ptable_lock);
}

void sleep_ticks(u64 n) {
    spin_lock(&ptable_lock);
    cur->wake_tick = ticks + n;
    while (ticks < cur->wake_tick)
        sleep_locked(&ticks_chan);
    spin_unlock(&ptable_lock);
}

/* CPU 0's timer keeps the time (as one CPU keeps jiffies in Linux); every CPU's tick ends the
 * running process's turn (trap.c). */
void timer_tick(void) {
    kstats.timer_ticks++;
    if (mycpu()->id != 0)
        return;
    spin_lock(&ptable_lock);
    ++ticks;
    wakeup_locked(&ticks_chan);
    spin_unlock(&ptable_lock);
}

int proc_fork(struct trapframe *tf) {
    struct proc *np = proc_alloc();
    if (!np)
        return -VMMU_EAGAIN;
    struct mm *mm = mm_alloc(), *old = cur->mm;
    if (!mm) {
        proc_free_embryo(np);
        return -VMMU_ENOMEM;
    }
    spin_lock(&old->lock);
    mm->brk_base = old->brk_base;
    mm->brk = old->brk;
    memcpy(mm->regions, old->regions, sizeof mm->regions);
    mm->pml4 = vm_fork(old->pml4);
    if (mm->pml4)
        /* The parent's writable pages just became read-only: flush its stale TLB entries,
         * here and on every CPU running one of its threads. */
        vm_flush_all(old->pml4);
    spin_unlock(&old->lock);
    if (!mm->pml4) {
        mm_put(mm);
        proc_free_embryo(np);
        return -VMMU_ENOMEM;
    }
    np->mm = mm;
    np->parent = cur;
    memcpy(np->name, cur->name, sizeof np->name);
    fpu_fork(np);
    struct trapframe child = *tf;
    child.rax = 0; /* fork returns 0 in the child */
    kstats.forks++;
    int pid = np->pid;
    proc_start(np, &child);
    return pid;
}

/* A thread: a new process in the caller's address space, resuming after the system call on
 * `stack` with rax = 0 and every other register as the caller's (the libc's clone wrapper
 * leaves what the thread needs on that stack). */
int proc_clone(struct trapframe *tf, u64 flags, u64 stack) {
    if (flags != VMMU_CLONE_VM || (stack & 15) || !user_range_ok(stack - 16, 16, 1))
        return -VMMU_EINVAL;
    struct proc *np = proc_alloc();
    if (!np)
        return -VMMU_EAGAIN;
    struct mm *mm = cur->mm;
    mm_get(mm);
    np->mm = mm;
    np->parent = cur;
    np->thread = 1;
    memcpy(np->name, cur->name, sizeof np->name);
    fpu_fork(np); /* a thread starts with its creator's FPU state, as after Linux's clone */
    struct trapframe child = *tf;
    child.rax = 0;
    child.rsp = stack;
    kstats.threads++;
    int pid = np->pid;
    proc_start(np, &child);
    return pid;
}

void proc_exit(int status) {
    struct proc *p = cur;
    if (p == initproc)
        panic("init exited with status %d", status);
    /* Leave the address space before dropping it; the kernel half is the same everywhere. The
     * last user frees it (after every CPU has left it: mm_put). */
    switch_cr3(kernel_pml4);
    mm_put(p->mm);
    p->mm = 0;
    spin_lock(&ptable_lock);
    /* Orphans go to init, which reaps whatever it finds. */
    for (int i = 0; i < NPROC; ++i) {
        if (procs[i].state != P_UNUSED && procs[i].parent == p) {
            procs[i].parent = initproc;
            if (procs[i].state == P_ZOMBIE)
                wakeup_locked(initproc);
        }
    }
    fpu_release(p);
    p->exit_status = status;
    p->state = P_ZOMBIE;
    kstats.exits++;
    wakeup_locked(p->parent);
    sched();
    panic("zombie %d ran again", p->pid);
}

/* Reaps a zombie child: `tid` 0 means any child process (threads are joined, not waited for;
 * init, which inherits orphans, reaps orphaned threads too), else that thread. */
static int reap(int tid, u64 status_uva) {
    if (status_uva && !user_range_ok(status_uva, sizeof(int), 1))
        return -VMMU_EFAULT;
    struct proc *me = cur;
    spin_lock(&ptable_lock);
    for (;;) {
        int have_children = 0;
        for (int i = 0; i < NPROC; ++i) {
            struct proc *q = &procs[i];
            if (q->state == P_UNUSED || q->parent != me)
                continue;
            if (tid ? q->pid != tid || !q->thread : q->thread && me != initproc)
                continue;
            have_children = 1;
            if (q->state != P_ZOMBIE)
                continue;
            int pid = q->pid, status = q->exit_status;
            q->state = P_UNUSED;
            q->parent = 0;
            spin_unlock(&ptable_lock);
            /* Outside the lock: the store may fault (copy-on-write). */
            if (status_uva)
                *(int *)status_uva = status;
            return pid;
        }
        if (!have_children) {
            spin_unlock(&ptable_lock);
            return tid ? -VMMU_ESRCH : -VMMU_ECHILD;
        }
        sleep_locked(me);
    }
}

int proc_wait(u64 status_uva) { return reap(0, status_uva); }
int proc_join(int tid, u64 status_uva) { return tid > 0 ? reap(tid, status_uva) : -VMMU_EINVAL; }
