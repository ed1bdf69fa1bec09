/* Several CPUs: per-CPU data, starting the application processors, IPIs and TLB shootdowns.
 *
 * CPU 0 boots; the others (APs) start where smp_start_aps asks the engine (VMMU_HC_START_CPU,
 * abi.h), each on its own stack, load the CPU tables and run the scheduler. Every CPU reaches
 * its struct cpu through IA32_GS_BASE (mycpu()). The guest runs at CPL0 throughout and user
 * programs never touch GS, so GS_BASE is set once per CPU and never swapped (no swapgs).
 *
 * Shootdown, as Linux's flush_tlb_mm_range does it (arch/x86/mm/tlb.c): the CPU that changed a
 * page table invalidates its own TLB, then asks every other CPU that may cache the address
 * space, the CPUs whose CR3 holds it (the mm's cpumask: with no PCIDs a CR3 load flushes every
 * non-global entry, so a CPU that switched away caches nothing of it), posts its request,
 * sends each an IPI and waits for every ack. A target invalidates the pages (invlpg) or the
 * whole space (CR3 reload) and acks by clearing the initiator's bit in its flush_pending word.
 * Lazy TLB: a CPU idling in the scheduler keeps its CR3 (switching would cost a flush for
 * nothing if the same process comes back); such a CPU gets no IPI for a page flush, only a mark
 * (TLB_LAZY_STALE) that makes it flush when it runs a process again. It does get the IPI when
 * the address space is about to be freed (FLUSH_LEAVE): it must stop using those tables.
 * Under Hyper-V, where it recommends remote flushes (hv.c), a page or whole-space shootdown is
 * one HvFlushVirtualAddressList/Space hypercall naming the targets (no IPIs, no acks; the same
 * lazy-TLB rules); FLUSH_LEAVE still takes IPIs. */
#include "kernel.h"
#include "x86.h"

struct cpu cpus[VMMU_MAX_CPUS];
u32 ncpus = 1;

#define AP_STACK_SIZE 16384
static u8 ap_stacks[VMMU_MAX_CPUS][AP_STACK_SIZE] __attribute__((aligned(16)));
extern char ap_entry[]; /* entry.S */

static u64 start_cpu_hypercall(u64 cpu, u64 rip, u64 rsp) {
    register u64 r10 __asm__("r10") = rsp;
    u64 ret = VMMU_HC_START_CPU;
    __asm__ volatile("outl %%eax, %%dx"
                     : "+a"(ret)
                     : "d"((u64)VMMU_PORT_HYPERCALL), "D"(cpu), "S"(rip), "r"(r10)
                     : "memory");
    return ret;
}

void smp_start_aps(void) {
    for (u32 i = 1; i < ncpus; ++i)
        start_cpu_hypercall(i, (u64)ap_entry, (u64)&ap_stacks[i][AP_STACK_SIZE]);
}

/* An AP's first C code: entered from ap_entry (entry.S) on its own stack, interrupts off, with
 * the boot CPU's CR3 (the kernel's own address space) and tables. */
void ap_main(u32 id) {
    cpu_init(id);
    fpu_init_cpu(); /* CR0/CR4 came from the boot CPU; checked as there */
    mycpu()->loaded_cr3 = kernel_pml4;
    mycpu()->started = 1;
    scheduler();
}

void lapic_eoi(void) { outl(VMMU_PORT_APIC, VMMU_APIC_EOI_VALUE); }

void send_ipi(u32 cpu, u32 vector) {
    kstats.ipis_sent++;
    outl(VMMU_PORT_APIC, VMMU_APIC_IPI_VALUE(vector, cpu, VMMU_APIC_SH_DEST));
}

/* Called with the process table locked: the lowest halted CPU not already kicked. */
void kick_idle_cpu(void) {
    for (u32 i = 0; i < ncpus; ++i) {
        struct cpu *c = &cpus[i];
        if (c != mycpu() && c->started && c->idle && !c->kicked) {
            c->kicked = 1;
            send_ipi(i, VMMU_VEC_IPI_RESCHED);
            return;
        }
    }
}

/* What a target does for one request. The request may be stale by now (this CPU switched
 * address spaces since it was posted): a CR3 load flushed it already. */
static void serve(struct cpu *c, const struct flush_request *r) {
    if (c->loaded_cr3 != r->pml4)
        return;
    if (r->kind == FLUSH_LEAVE) {
        if (c->proc && c->proc->mm && c->proc->mm->pml4 == r->pml4)
            panic("CPU %u asked to leave the address space its process %d runs in", c->id,
                  c->proc->pid);
        switch_cr3(kernel_pml4);
    } else if (r->kind == FLUSH_ALL) {
        switch_cr3(r->pml4);
    } else {
        for (u32 i = 0; i < r->n; ++i) {
            kstats.invlpgs++;
            invlpg(r->va[i]);
        }
    }
}

void tlb_poll(void) {
    struct cpu *c = mycpu();
    u32 pending = c->flush_pending;
    if (!pending)
        return;
    for (u32 i = 0; i < ncpus; ++i) {
        if (!(pending & (1u << i)))
            continue;
        serve(c, &cpus[i].req);
        kstats.shootdowns_served++;
        atomic_and32(&c->flush_pending, ~(1u << i));
    }
}

/* Idle again after a wake-up that found nothing to run, the CPU may already be lazy and marked
 * stale: the mark must survive (overwriting it with TLB_LAZY lost a flush, and the next thread of
 * that address space ran on entries unmapped meanwhile). Only this CPU leaves TLB_ACTIVE, and
 * initiators only turn TLB_LAZY into TLB_LAZY_STALE, so the plain test and store are safe. */
void tlb_enter_lazy(void) {
    struct cpu *c = mycpu();
    if (c->tlb_state == TLB_ACTIVE)
        c->tlb_state = TLB_LAZY;
}

int tlb_leave_lazy(void) { return xchg32(&mycpu()->tlb_state, TLB_ACTIVE) == TLB_LAZY_STALE; }

void tlb_shootdown(u64 pml4, u32 kind, const u64 *va, u32 n) {
    struct cpu *me = mycpu();
    u32 targets = 0;
    for (u32 i = 0; i < ncpus; ++i) {
        struct cpu *c = &cpus[i];
        if (c == me || !c->started || c->loaded_cr3 != pml4)
            continue;
        /* An idle CPU flushes when it next runs a process: no IPI. If it left idle meanwhile
         * the exchange fails and it gets the IPI like the others. */
        if (kind != FLUSH_LEAVE &&
            (c->tlb_state == TLB_LAZY_STALE ||
             atomic_cmpxchg32(&c->tlb_state, TLB_LAZY, TLB_LAZY_STALE) == TLB_LAZY)) {
            kstats.shootdown_lazy++;
            continue;
        }
        targets |= 1u << i;
    }
    if (!targets)
        return;
    struct flush_request *r = &me->req;
    r->pml4 = pml4;
    r->kind = n > FLUSH_CEILING_PAGES && kind == FLUSH_PAGES ? FLUSH_ALL : kind;
    r->n = r->kind == FLUSH_PAGES ? n : 0;
    for (u32 i = 0; i < r->n; ++i)
        r->va[i] = va[i];
    kstats.shootdowns++;
    /* Under Hyper-V, where it recommends remote flushes (hv.c): one hypercall naming the targets
     * instead of IPIs and acks, complete on return. FLUSH_LEAVE still takes IPIs: a target must
     * load another CR3, which no flush hypercall does. */
    if ((hv_recommended & VMMU_HV_REC_REMOTE_FLUSH) && r->kind != FLUSH_LEAVE) {
        for (u32 i = 0; i < ncpus; ++i)
            if (targets & (1u << i)) {
                kstats.shootdown_targets++;
                hv_stats.remote_targets++;
            }
        hv_stats.remote_flushes++;
        hv_flush_remote(pml4, targets, r->kind == FLUSH_PAGES ? r->va : 0, r->n);
        return;
    }
    for (u32 i = 0; i < ncpus; ++i) {
        if (!(targets & (1u << i)))
            continue;
        kstats.shootdown_targets++;
        atomic_or32(&cpus[i].flush_pending, 1u << me->id);
        kstats.shootdown_ipis++;
        send_ipi(i, VMMU_VEC_IPI_SHOOTDOWN);
    }
    /* Wait for every ack, serving requests aimed at this CPU meanwhile (two CPUs may shoot
     * at each other at once, each with interrupts off). */
    for (u32 i = 0; i < ncpus; ++i) {
        if (!(targets & (1u << i)))
            continue;
        for (u64 spins = 0; cpus[i].flush_pending & (1u << me->id); ++spins) {
            if (spins == (1ULL << 27))
                panic("shootdown: CPU %u never acked CPU %u", i, me->id);
            cpu_relax();
            tlb_poll();
        }
    }
}
