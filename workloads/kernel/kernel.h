/* The teaching kernel's shared declarations: memory, address spaces, processes, traps.
 * Design in one page: workloads/README.md. */
#ifndef KERNEL_H
#define KERNEL_H

#include "types.h"
#include "vmmu/abi.h"
#include "vmmu/syscalls.h"

/* ---- Memory ------------------------------------------------------------------------------ */
#define PAGE_SIZE 4096ULL
#define HUGE_SIZE (2ULL << 20)
#define page_down(x) ((u64)(x) & ~(PAGE_SIZE - 1))
#define page_up(x) (((u64)(x) + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1))

/* The kernel reaches guest-physical memory only through its direct map (docs/ARCHITECTURE.md). */
#define P2V(pa) ((void *)(VMMU_DIRECT_MAP + (u64)(pa)))
#define V2P(va) ((u64)(va) - VMMU_DIRECT_MAP)

/* Page-table entry bits (SDM vol. 3, 4.5, tables 4-15 to 4-20); bits 9-11 are ours. */
#define PTE_P 0x1ULL
#define PTE_W 0x2ULL
#define PTE_U 0x4ULL
#define PTE_A 0x20ULL
#define PTE_D 0x40ULL
#define PTE_PS 0x80ULL
#define PTE_G 0x100ULL
#define PTE_COW 0x200ULL    /* read-only because shared after fork: copy on write */
#define PTE_SHARED 0x400ULL /* shared anonymous memory: fork shares it writable */
/* No NX: Unicorn's CPU models lack CPUID NX, so EFER.NXE stays clear and bit 63 is reserved
 * (setting it gives a #PF with RSVD). See abi.h. */
#define PTE_NX 0ULL
#define PTE_ADDR 0x000ffffffffff000ULL

/* frame.c: physical frames with reference counts (a frame mapped by n processes has count n). */
void frame_init(u64 free_start, u64 mem_bytes);
u64 frame_alloc(void);      /* a zeroed 4 KiB frame, 0 if none */
u64 frame_alloc_huge(void); /* a zeroed, 2 MiB-aligned 2 MiB frame, 0 if none */
void frame_ref(u64 pa);
void frame_put(u64 pa, int huge); /* drop one reference; frees at zero */
int frame_count(u64 pa);
int frame_reserved(u64 pa);       /* engine-owned (kernel, program text, archive): never freed */
/* Frames freed by an unmap, held back until every CPU's TLB has dropped them (vm.c). */
struct frame_gather {
    u64 head4k, tail4k, head2m, tail2m, frames;
};
void frame_gather_init(struct frame_gather *g);
void frame_put_gather(u64 pa, int huge, struct frame_gather *g);
void frame_gather_release(struct frame_gather *g); /* onto the free lists */
extern u64 frames_in_use;         /* in 4 KiB units */

/* ---- Address spaces (vm.c) --------------------------------------------------------------- */
enum region_kind { R_DATA = 1, R_HEAP, R_STACK, R_MMAP };
#define RF_W 0x1      /* writable */
#define RF_HUGE 0x2   /* demand-fault 2 MiB pages where a whole aligned block fits */
#define RF_SHARED 0x4 /* shared across fork, populated at creation */

struct region {
    u64 start, end; /* [start, end), page aligned */
    u32 kind, flags;
};

#define NREGION 32
#define USER_STACK_MAX (8ULL << 20)

/* ---- Locks (lock.c) ------------------------------------------------------------------------ */
/* A spinlock: a FIFO ticket lock (`lock xadd` takes a ticket, `pause` while waiting for it to
 * be served). The kernel runs with interrupts off, so a lock holder is never interrupted; a CPU
 * spinning on a lock still answers TLB shootdowns (tlb_poll), or two CPUs could wait on each
 * other forever. */
struct spinlock {
    volatile u32 next;  /* the next ticket to hand out */
    volatile u32 owner; /* the ticket being served: the lock is free when it equals next */
    volatile u32 cpu;   /* holder's CPU index, for the self-deadlock check; NOCPU while free */
    const char *name;
};
#define NOCPU 0xffffffffu
#define SPINLOCK(n) {0, 0, NOCPU, n}
void spin_lock(struct spinlock *l);
void spin_unlock(struct spinlock *l);
int spin_holding(struct spinlock *l);

/* An address space, shared by the threads of a process (a clone with VMMU_CLONE_VM) and freed
 * with its last user. `lock` guards the page tables and the regions. */
struct mm {
    u64 pml4;          /* gPA of the top-level table: the value loaded into CR3 */
    u64 brk_base, brk; /* heap: [brk_base, brk) */
    int users;         /* processes (threads) sharing it; guarded by mm_pool_lock */
    struct spinlock lock;
    struct region regions[NREGION];
};

struct mm *mm_alloc(void);     /* an empty mm with one user, 0 if none left */
void mm_get(struct mm *mm);    /* one more user (a thread) */
void mm_put(struct mm *mm);    /* drop one user; the last frees the address space */

extern u64 kernel_pml4;
extern int paging_levels;                /* 4, or 5 with VMMU_BOOT_FLAG_LA57 (vm.c) */
extern u64 user_mmap_base, user_stack_top; /* VMMU_USER_*, or their _LA57 forms */
/* A process's address (not the kernel half's): below the direct map, or at 2^48 and up. */
static inline int user_va(u64 va) {
    return va < VMMU_DIRECT_MAP || (va >= VMMU_LA57_HIGH && va < user_stack_top);
}
void vm_init(u64 mem_bytes);
void switch_cr3(u64 pml4);                          /* load CR3: flushes non-global TLB entries */
void vm_activate(u64 pml4);                         /* switch_cr3 unless already loaded */
void vm_flush_all(u64 pml4);                        /* drop its non-global TLB entries if loaded */
u64 vm_new(void);                                   /* kernel half + kernel text; 0 if no memory */
void vm_free(u64 pml4);                             /* user half, its tables, the root */
u64 vm_fork(u64 pml4);                              /* copy-on-write copy; 0 if no memory */
u64 *vm_entry(u64 pml4, u64 va, int level, int create);
int vm_map(u64 pml4, u64 va, u64 pa, u64 flags);    /* one 4 KiB page; -1 if no memory */
void vm_unmap(u64 pml4, u64 start, u64 end);        /* drops every page wholly inside */
int vm_fault(struct mm *mm, u64 va, u64 err);       /* demand-zero or CoW; -1: fatal */
struct region *region_find(struct mm *mm, u64 va);
struct region *region_add(struct mm *mm, u64 start, u64 end, u32 kind, u32 flags);

/* ---- Processes (proc.c) ------------------------------------------------------------------ */
enum proc_state { P_UNUSED, P_EMBRYO, P_RUNNABLE, P_RUNNING, P_SLEEPING, P_ZOMBIE };

/* Saved by the trap and syscall stubs (entry.S); the order matches their pushes. */
struct trapframe {
    u64 r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
    u64 vector, error;
    u64 rip, cs, rflags, rsp, ss; /* pushed by the CPU (the engine) or built by the syscall stub */
};

/* 64-bit TSS (SDM vol. 3, 8.7): only RSP0 matters here, the stack a trap from user code
 * switches to. One per CPU. */
struct tss {
    u32 reserved0;
    u64 rsp0, rsp1, rsp2;
    u64 reserved1;
    u64 ist[7];
    u64 reserved2;
    u16 reserved3;
    u16 iomap_base;
} __attribute__((packed));

/* Process slots: the scaling study's 64 sessions need 3 * 64 + 2. Each has a 16 KiB kernel stack
 * in .bss (4 MiB in all), which must end below the program text at VMMU_PROG_TEXT_BASE. */
#define NPROC 256
#define KSTACK_SIZE 16384
#define PROC_NAME_MAX 32

/* A process's x87/SSE registers while it does not hold the CPU: the FXSAVE image (SDM vol. 1,
 * 10.5.1), 16-byte aligned. It sits at the top of the process's kernel stack, right above where
 * the stack starts (kstack_top), so it shares the page the stack uses anyway; not in struct
 * proc, whose slots the scheduler scans: bigger slots would spread that scan over more pages. */
struct fpu_state {
    u8 bytes[512];
} __attribute__((aligned(16)));

struct proc {
    int pid;
    enum proc_state state;
    struct proc *parent;
    u64 ksp;        /* kernel stack pointer saved by swtch */
    u64 kstack_top; /* where traps from user code start (TSS.RSP0); the FPU state above it */
    const void *chan; /* what a sleeping process waits for */
    u64 wake_tick;    /* for sleep(ticks) */
    int exit_status;
    char name[PROC_NAME_MAX];
    struct mm *mm;
    int last_cpu;     /* where it ran last: a run elsewhere counts as a migration */
    int thread;       /* created by clone: reaped by join, not by wait */
    struct proc *run_next; /* the run queue's link (proc.c) */
};

extern struct proc *initproc;
extern u64 ticks;

void proc_init(void);
struct proc *proc_alloc(void);
void proc_start(struct proc *p, const struct trapframe *tf); /* first return to user: tf */
void scheduler(void) __attribute__((noreturn));
void yield(void);
void wakeup(const void *chan);
void sleep_ticks(u64 n);
void timer_tick(void);
int proc_fork(struct trapframe *tf);
int proc_clone(struct trapframe *tf, u64 flags, u64 stack);
int proc_join(int tid, u64 status_uva);
void proc_exit(int status) __attribute__((noreturn));
int proc_wait(u64 status_uva);

/* fpu.c: eager per-process x87/SSE state, switched by the scheduler. Valid while another
 * process owns the FPU. */
#define proc_fpu(p) ((struct fpu_state *)(p)->kstack_top)
void fpu_init_cpu(void);                  /* CR0/CR4: x87 and SSE on, no #NM traps */
void fpu_init_state(struct fpu_state *f); /* FNINIT state, MXCSR 0x1f80 */
void fpu_switch_to(struct proc *p);       /* before p runs: save the owner's, load p's */
void fpu_fork(struct proc *child);        /* child inherits the running process's state */
void fpu_exec(struct proc *p);            /* a new image starts from the initial state */
void fpu_release(struct proc *p);         /* p exits: its registers are nobody's */
void fpu_leave(struct proc *p); /* p left this CPU: with several CPUs, save its state now */

/* exec.c */
int exec_load(struct proc *p, struct trapframe *tf, const char *name, int argc, char **argv);
void kernel_start_init(const char *cmdline);

/* ---- Traps and system calls (trap.c, syscall.c, entry.S) --------------------------------- */
void cpu_init(u32 id);
void set_kernel_stack(u64 top);
void trap(struct trapframe *tf);
void syscall_dispatch(struct trapframe *tf);
int user_range_ok(u64 va, u64 len, int write);
void swtch(u64 *save_sp, u64 new_sp);
void trapret(void);

/* ---- Console, hypercalls, counters (console.c) ------------------------------------------- */
void kprintf(const char *fmt, ...);
void panic(const char *fmt, ...) __attribute__((noreturn));
void hc_report(const char *key, u64 len, u64 value);
void hc_exit(u64 status) __attribute__((noreturn));
void hc_write(const char *s, u64 len);
void hc_write_program(const char *s, u64 len);
u64 hc_clock(void); /* guest instructions retired so far (VMMU_HC_CLOCK) */

/* Events the kernel counts and reports as kernel.<name> at shutdown (console.c): each CPU counts
 * its own (struct cpu), the report sums them. */
struct kernel_stats {
    u64 syscalls, page_faults, pf_demand_zero, pf_demand_zero_2m, pf_cow, cow_copy, cow_reuse,
        pf_fatal, forks, execs, exits, context_switches, processes_created, timer_ticks,
        idle_halts, cr3_loads, invlpgs, killed, fpu_switches;
    /* SMP (smp.c): threads created, runs on another CPU than last time, IPIs sent and taken,
     * shootdowns initiated (with at least one target), CPUs asked, lazy CPUs spared an IPI,
     * requests served as a target. */
    u64 threads, migrations, ipis_sent, ipis_received, shootdowns, shootdown_targets,
        shootdown_lazy, shootdowns_served, shootdown_ipis;
};

/* ---- Hyper-V enlightenments (hv.c) ------------------------------------------------------- */
/* CPUID 0x40000004 recommendations this kernel follows (VMMU_HV_REC_*), 0 on another host. */
extern u32 hv_recommended;
struct hv_counters {
    u64 switches, flush_spaces, flush_lists, flush_entries;
    u64 remote_flushes, remote_targets; /* shootdowns by hypercall, the CPUs they named */
};
void hv_init(void);
void hv_switch_address_space(u64 pml4);          /* HvSwitchVirtualAddressSpace */
void hv_flush_address_space(u64 pml4);           /* HvFlushVirtualAddressSpace, non-global */
void hv_flush_address_list(u64 pml4, const u64 *va, u32 n); /* HvFlushVirtualAddressList */
void hv_flush_remote(u64 pml4, u32 targets, const u64 *va, u32 n); /* other CPUs, va 0: all */
extern const struct vmmu_boot_info *boot;
void report_kernel_stats(void);

/* ---- CPUs (smp.c) ------------------------------------------------------------------------ */
/* A TLB shootdown request (smp.c): what the initiating CPU asks the others to invalidate. */
enum flush_kind { FLUSH_PAGES = 1, FLUSH_ALL, FLUSH_LEAVE };
#define FLUSH_CEILING_PAGES 33 /* beyond this many pages a full flush (vm.c) */
struct flush_request {
    u64 pml4;
    u32 kind, n;
    u64 va[FLUSH_CEILING_PAGES];
};

/* Per-CPU data, reached through IA32_GS_BASE: the syscall stub reads the first two fields
 * (offsets fixed in entry.S), mycpu() reads `self`. */
struct cpu {
    u64 kstack_top;   /* %gs:0: kernel stack of the running process */
    u64 user_rsp;     /* %gs:8: scratch for the syscall stub */
    struct cpu *self; /* %gs:16 */
    u32 id;
    volatile u32 started;
    struct proc *proc;  /* running process; 0 in the scheduler */
    struct proc *fpu_owner; /* whose FPU/SSE state this CPU's registers hold (fpu.c); 0: nobody's */
    u64 scheduler_sp;   /* where swtch left the scheduler */
    volatile u64 loaded_cr3; /* what CR3 holds: the shootdown's cpumask is read from these */
    volatile u32 tlb_state;  /* TLB_ACTIVE, TLB_LAZY (idle, CR3 kept), TLB_LAZY_STALE */
    volatile u32 flush_pending; /* bit i: CPU i's request waits for this CPU's ack */
    volatile u32 idle, kicked;  /* halted in the scheduler; a reschedule IPI is on its way */
    struct flush_request req;   /* this CPU's own request while it initiates a shootdown */
    struct tss tss;
    struct kernel_stats stats;
    struct hv_counters hv;
};
enum { TLB_ACTIVE = 0, TLB_LAZY, TLB_LAZY_STALE };

extern struct cpu cpus[VMMU_MAX_CPUS];
extern u32 ncpus; /* from boot info: CPUs the kernel runs on */

static inline struct cpu *mycpu(void) {
    struct cpu *c;
    __asm__ volatile("mov %%gs:16, %0" : "=r"(c));
    return c;
}
/* The running process and this CPU's counters (every CPU has its own). */
#define cur (mycpu()->proc)
#define kstats (mycpu()->stats)
#define hv_stats (mycpu()->hv)

void smp_start_aps(void);
void ap_main(u32 id) __attribute__((noreturn));
void lapic_eoi(void);
void send_ipi(u32 cpu, u32 vector);
void kick_idle_cpu(void); /* a process became runnable: wake a halted CPU to run it */
/* Shootdowns (smp.c): every other CPU whose CR3 holds pml4 invalidates `va` (FLUSH_PAGES), all
 * non-global entries (FLUSH_ALL), or leaves the address space for the kernel's (FLUSH_LEAVE,
 * before it is freed); the caller waits for every ack. */
void tlb_shootdown(u64 pml4, u32 kind, const u64 *va, u32 n);
void tlb_poll(void);        /* serve requests waiting for this CPU (IPI handler, spin loops) */
void tlb_enter_lazy(void); /* this CPU idles keeping its CR3 (a stale mark already set stays) */
/* This CPU runs a process again: 1 if a flush was deferred while it idled (reload CR3). */
int tlb_leave_lazy(void);

/* Shared with the libc (libc/string.c, libc/format.c). */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int vformat(char *buf, size_t size, const char *fmt, va_list ap);

#endif
