/* CPU tables and trap handling: GDT with a TSS, IDT, SYSCALL MSRs, and the trap dispatcher.
 * All of these tables live in kernel data (the direct map): the engine reads them through
 * the page tables like any other data. */
#include "kernel.h"
#include "x86.h"

/* GDT (SDM vol. 3, 3.4.5): the engine's selectors 0x08 (64-bit code) and 0x10 (data), with
 * their accessed bits preset so loading them never writes the table, then one 16-byte TSS
 * descriptor per CPU from 0x18 on (SDM vol. 3, 8.2.3): each CPU has its own RSP0. */
#define SEL_TSS(cpu) (0x18 + 16 * (cpu))
static u64 gdt[3 + 2 * VMMU_MAX_CPUS] = {0, 0x00209b0000000000ULL, 0x0000930000000000ULL};

/* IDT: 16-byte gates (SDM vol. 3, 6.14.1). */
struct gate {
    u16 offset_lo, selector;
    u8 ist, type_attr;
    u16 offset_mid;
    u32 offset_hi, reserved;
} __attribute__((packed));
static struct gate idt[256];

struct table_ptr {
    u16 limit;
    u64 base;
} __attribute__((packed));

extern char vector0[], vector1[], vector2[], vector3[], vector4[], vector5[], vector6[],
    vector7[], vector8[], vector9[], vector10[], vector11[], vector12[], vector13[], vector14[],
    vector15[], vector16[], vector17[], vector18[], vector19[], vector20[], vector21[], vector22[],
    vector23[], vector24[], vector25[], vector26[], vector27[], vector28[], vector29[], vector30[],
    vector31[], vector32[], vector240[], vector241[], syscall_entry[];

static void set_gate(int vec, void *handler) {
    u64 a = (u64)handler;
    struct gate *g = &idt[vec];
    g->offset_lo = (u16)a;
    g->selector = VMMU_SEL_KERNEL_CS;
    g->ist = 0;
    /* Present, DPL 0, type 0xE: an interrupt gate clears IF, so the kernel is never
     * interrupted while it runs (it is not preemptible). */
    g->type_attr = 0x8e;
    g->offset_mid = (u16)(a >> 16);
    g->offset_hi = (u32)(a >> 32);
    g->reserved = 0;
}

void set_kernel_stack(u64 top) {
    struct cpu *c = mycpu();
    c->kstack_top = top;
    c->tss.rsp0 = top;
}

/* Each CPU, the boot CPU first (id 0): its per-CPU data, then the shared GDT and IDT and its
 * own TSS. */
void cpu_init(u32 id) {
    struct cpu *c = &cpus[id];
    c->self = c;
    c->id = id;
    /* Per-CPU data first: everything below may use mycpu() (abi.h: an AP starts with GS base 0). */
    wrmsr(MSR_GS_BASE, (u64)c);
    u64 base = (u64)&c->tss, limit = sizeof c->tss - 1;
    c->tss.iomap_base = sizeof c->tss; /* no I/O bitmap */
    gdt[3 + 2 * id] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ULL << 40) |
                      (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
    gdt[4 + 2 * id] = base >> 32;
    struct table_ptr gp = {sizeof gdt - 1, (u64)gdt};
    __asm__ volatile("lgdt %0" : : "m"(gp));
    /* Reload every segment register from the new table; CS needs a far return. */
    __asm__ volatile("movw %w0, %%ds\n\tmovw %w0, %%es\n\tmovw %w0, %%ss\n\t"
                     "pushq %1\n\tmovabs $1f, %%rax\n\tpushq %%rax\n\tlretq\n1:"
                     :
                     : "r"(VMMU_SEL_KERNEL_DS), "i"(VMMU_SEL_KERNEL_CS)
                     : "rax", "memory");
    __asm__ volatile("ltr %w0" : : "r"(SEL_TSS(id)));

    void *vectors[33] = {vector0,  vector1,  vector2,  vector3,  vector4,  vector5,  vector6,
                         vector7,  vector8,  vector9,  vector10, vector11, vector12, vector13,
                         vector14, vector15, vector16, vector17, vector18, vector19, vector20,
                         vector21, vector22, vector23, vector24, vector25, vector26, vector27,
                         vector28, vector29, vector30, vector31, vector32};
    for (int i = 0; i < 33; ++i)
        set_gate(i, vectors[i]);
    set_gate(VMMU_VEC_IPI_SHOOTDOWN, vector240);
    set_gate(VMMU_VEC_IPI_RESCHED, vector241);
    struct table_ptr ip = {sizeof idt - 1, (u64)idt};
    __asm__ volatile("lidt %0" : : "m"(ip));

    /* SYSCALL (SDM vol. 2): CS = STAR[47:32], SS = CS + 8; entry at LSTAR; SFMASK clears IF
     * (the kernel runs with interrupts off), TF, DF (the C ABI expects DF = 0), AC and NT. */
    wrmsr(MSR_STAR, (u64)VMMU_SEL_KERNEL_CS << 32);
    wrmsr(MSR_LSTAR, (u64)syscall_entry);
    wrmsr(MSR_SFMASK, RFLAGS_IF | RFLAGS_TF | RFLAGS_DF | RFLAGS_AC | RFLAGS_NT);
}

static int from_user(const struct trapframe *tf) {
    return tf->rip >= VMMU_PROG_TEXT_BASE && tf->rip < VMMU_CODE_END;
}

static const char *exception_name(u64 v) {
    switch (v) {
    case VMMU_VEC_DE: return "divide error";
    case VMMU_VEC_UD: return "invalid opcode";
    case VMMU_VEC_DF: return "double fault";
    case VMMU_VEC_GP: return "general protection";
    case VMMU_VEC_PF: return "page fault";
    default: return "exception";
    }
}

/* A user program did something fatal: say so on the console and end it, as a signal would. */
static void kill_current(const struct trapframe *tf, u64 addr) {
    kstats.killed++;
    kprintf("kernel: pid %d (%s): %s (vector %llu) at rip %llx, address %llx, error %llx: "
            "killed\n",
            cur->pid, cur->name, exception_name(tf->vector), tf->vector, tf->rip, addr, tf->error);
    proc_exit(VMMU_KILLED_BASE + (int)tf->vector);
}

void trap(struct trapframe *tf) {
    if (tf->vector == VMMU_VEC_TIMER) {
        timer_tick();
        /* One CPU: the engine never marks the timer in service (abi.h), so no EOI. */
        if (ncpus > 1)
            lapic_eoi();
        /* Round robin: a tick that lands in user code ends the running process's turn. */
        if (cur && from_user(tf))
            yield();
        return;
    }
    if (tf->vector == VMMU_VEC_IPI_SHOOTDOWN || tf->vector == VMMU_VEC_IPI_RESCHED) {
        /* A reschedule IPI only wakes a halted CPU: its scheduler loop looks again. */
        kstats.ipis_received++;
        if (tf->vector == VMMU_VEC_IPI_SHOOTDOWN)
            tlb_poll();
        lapic_eoi();
        return;
    }
    if (tf->vector == VMMU_VEC_PF) {
        u64 addr = read_cr2();
        kstats.page_faults++;
        /* Faults on user addresses, from user code or from the kernel copying to or from
         * user memory in a system call, are resolved against the process's regions. */
        if (cur && user_va(addr) && vm_fault(cur->mm, addr, tf->error) == 0)
            return;
        kstats.pf_fatal++;
        if (cur && from_user(tf))
            kill_current(tf, addr);
        panic("kernel page fault at rip %llx, address %llx, error %llx", tf->rip, addr,
              tf->error);
    }
    if (cur && from_user(tf))
        kill_current(tf, 0);
    panic("kernel: %s (vector %llu) at rip %llx, error %llx", exception_name(tf->vector),
          tf->vector, tf->rip, tf->error);
}
