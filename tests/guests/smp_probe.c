/* A tiny two-vCPU test kernel: CPU 0 starts CPU 1 with VMMU_HC_START_CPU and the two exchange
 * IPIs through the local-APIC port (workloads/include/vmmu/abi.h, "SMP"). One command-line word
 * picks the probe; results come back through the report hypercall (tests/smp_test.cpp).
 *
 *   ipi        3 rounds: CPU 0 sends VMMU_VEC_IPI_RESCHED to CPU 1 and halts; CPU 1's handler
 *              EOIs and answers with VMMU_VEC_IPI_CALL, which wakes CPU 0. 6 IPIs sent and
 *              received, 6 EOIs, every one an `out` to the APIC port.
 *   stale      CPU 1 reads a page, CPU 0 remaps it to another frame and flushes only its own TLB
 *              (invlpg, no shootdown): CPU 1 still reads the old frame until its own invlpg.
 *   shootdown  the same, but CPU 0 sends VMMU_VEC_IPI_SHOOTDOWN to CPU 1 and waits for its ack
 *              (CPU 1's handler invlpg's the page): CPU 1 reads the new frame.
 *   hvflush    the same, but CPU 0 flushes CPU 1 with one HvFlushVirtualAddressList naming
 *              CPU 1 only (run with the Hyper-V personality): no IPI, and CPU 1 reads the new
 *              frame, because the flush is complete when the hypercall returns.
 *   ptshare    a page table both CPUs use, written by one: CPU 0 maps kPage and kPage2 in one
 *              leaf table and reads both; CPU 1 reads kPage (sti: it stays in the guest) and
 *              spins; CPU 0 remaps kPage2 and invlpg's it, then lets CPU 1 read kPage again. No
 *              translation CPU 1 uses changes, so no shootdown: a hypervisor whose shadow tables
 *              the CPUs share flushes CPU 1 anyway (tests/smp_backend_test.cpp).
 *   ticks      both CPUs halt with interrupts on until each has taken 3 timer ticks (EOI each).
 *   twice      starts CPU 1 twice (a guest error).
 *   nocpu      starts CPU 2 (a guest error with --vcpus 2).
 *   work       the benchmark (tests/bench/engine_bench.cpp): 20 M passes of a 5-instruction
 *              compute loop split evenly over every CPU boot info counts (1, 2, 4, 8).
 *   roi        region "par" around a twentieth of that work on every CPU: CPU 0 opens it, starts
 *              the others, does its share, waits for theirs and closes it.
 */
#include "vmmu/abi.h"

typedef unsigned long u64;
typedef unsigned int u32;
typedef unsigned short u16;

struct frame {
    u64 r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
    u64 vector, error, rip, cs, rflags, rsp, ss;
};

static u64 hypercall(u64 nr, u64 a0, u64 a1, u64 a2) {
    register u64 r10 __asm__("r10") = a2;
    __asm__ volatile("outl %%eax, %%dx"
                     : "+a"(nr)
                     : "d"((u64)VMMU_PORT_HYPERCALL), "D"(a0), "S"(a1), "r"(r10)
                     : "memory");
    return nr;
}
static u64 slen(const char* s) {
    u64 n = 0;
    while (s[n]) ++n;
    return n;
}
static void report(const char* key, u64 v) { hypercall(VMMU_HC_REPORT, (u64)key, slen(key), v); }
static void exit_guest(u64 status) {
    hypercall(VMMU_HC_EXIT, status, 0, 0);
    for (;;) __asm__ volatile("cli; hlt");
}
static int streq(const char* a, const char* b) {
    while (*a && *a == *b) ++a, ++b;
    return *a == *b;
}
static void apic(u32 v) {
    __asm__ volatile("outl %%eax, %%dx" ::"a"(v), "d"((u64)VMMU_PORT_APIC) : "memory");
}
static void send_ipi(u32 vector, u32 cpu) {
    apic(VMMU_APIC_IPI_VALUE(vector, cpu, VMMU_APIC_SH_DEST));
}
static void eoi(void) { apic(VMMU_APIC_EOI_VALUE); }
static void invlpg(u64 va) { __asm__ volatile("invlpg (%0)" ::"r"(va) : "memory"); }

#define STUB(n, has_error)                                                                         \
    void isr##n(void);                                                                             \
    __asm__(".pushsection .text\n.global isr" #n "\nisr" #n ":\n" has_error "  pushq $" #n "\n"    \
            "  jmp isr_common\n.popsection\n");
STUB(13, "")
STUB(14, "")
STUB(32, "  pushq $0\n")
STUB(240, "  pushq $0\n")
STUB(241, "  pushq $0\n")
STUB(242, "  pushq $0\n")

__asm__(".pushsection .text\nisr_common:\n"
        "  push %rax\n push %rbx\n push %rcx\n push %rdx\n push %rsi\n push %rdi\n push %rbp\n"
        "  push %r8\n push %r9\n push %r10\n push %r11\n push %r12\n push %r13\n push %r14\n"
        "  push %r15\n"
        "  mov %rsp, %rdi\n"
        "  movabs $dispatch, %rax\n"
        "  call *%rax\n"
        "  pop %r15\n pop %r14\n pop %r13\n pop %r12\n pop %r11\n pop %r10\n pop %r9\n pop %r8\n"
        "  pop %rbp\n pop %rdi\n pop %rsi\n pop %rdx\n pop %rcx\n pop %rbx\n pop %rax\n"
        "  add $16, %rsp\n"
        "  iretq\n.popsection\n");

static u64 idt[512];
static struct __attribute__((packed)) {
    u16 limit;
    u64 base;
} idtr;

static void set_gate(int vec, void (*fn)(void)) {
    u64 a = (u64)fn;
    idt[2 * vec] = (a & 0xffff) | ((u64)VMMU_SEL_KERNEL_CS << 16) | (0x8eull << 40) |
                   ((a >> 16 & 0xffff) << 48);
    idt[2 * vec + 1] = a >> 32;
}

static struct vmmu_boot_info* boot;
static u64 next_frame;
static u64* phys(u64 pa) { return (u64*)(VMMU_DIRECT_MAP + pa); }
static u64 alloc_frame(void) {
    u64 f = next_frame;
    next_frame += 4096;
    for (int i = 0; i < 512; ++i) phys(f)[i] = 0;
    return f;
}
static u64* pte_for(u64 va) {
    u64 table = boot->boot_pml4_gpa;
    for (int level = 4; level > 1; --level) {
        u64* e = &phys(table)[(va >> (12 + 9 * (level - 1))) & 0x1ff];
        if (!(*e & 1)) *e = alloc_frame() | 3;
        table = *e & 0x000ffffffffff000ull;
    }
    return &phys(table)[(va >> 12) & 0x1ff];
}

/* Each AP runs on its own stack: a frame on CPU 1's stack is CPU 1's. */
#define AP_STACK_WORDS 1024
static u64 ap_stacks[VMMU_MAX_CPUS][AP_STACK_WORDS] __attribute__((aligned(16)));
static u64 ap_stack_top(u64 cpu) { return (u64)&ap_stacks[cpu][AP_STACK_WORDS]; }
static int on_cpu1(u64 rsp) { return rsp >= (u64)ap_stacks[1] && rsp < ap_stack_top(1); }

static volatile u64 ap_up, work_done, step, ipis0, ipis1, acks, ticks0, ticks1;
static const u64 kPage = VMMU_USER_DATA_BASE + 0x9000;
static const u64 kPage2 = VMMU_USER_DATA_BASE + 0xa000; /* the same leaf table as kPage */

void dispatch(struct frame* f) {
    switch (f->vector) {
    case VMMU_VEC_IPI_RESCHED: /* CPU 1: answer CPU 0 */
        ++ipis1;
        eoi();
        send_ipi(VMMU_VEC_IPI_CALL, 0);
        return;
    case VMMU_VEC_IPI_CALL: /* CPU 0 */
        ++ipis0;
        eoi();
        return;
    case VMMU_VEC_IPI_SHOOTDOWN: /* CPU 1 */
        invlpg(kPage);
        ++acks;
        eoi();
        return;
    case VMMU_VEC_TIMER:
        if (on_cpu1((u64)f))
            ++ticks1;
        else
            ++ticks0;
        eoi();
        return;
    }
    report("unexpected.vector", f->vector);
    report("unexpected.rip", f->rip);
    exit_guest(1);
}

static const char* cmd;

/* rdi = iterations. Pure register arithmetic (probe.c's bench_compute). */
void compute(u64 iterations);
__asm__(".pushsection .text\n.global compute\ncompute:\n"
        "  mov $0x9e3779b97f4a7c15, %rax\n  xor %ecx, %ecx\n"
        "1: imul %rax, %rcx\n  add $1, %rcx\n  xor %rcx, %rax\n  sub $1, %rdi\n  jnz 1b\n"
        "  ret\n.popsection\n");
/* The benchmark's total: 20 M passes of compute()'s 5-instruction loop, split over the CPUs. */
#define WORK_ITERATIONS 20000000ul
#define ROI_ITERATIONS (WORK_ITERATIONS / 20)
static void roi_begin(const char* name) { hypercall(VMMU_HC_ROI_BEGIN, (u64)name, slen(name), 0); }
static void roi_end(void) { hypercall(VMMU_HC_ROI_END, 0, 0, 0); }

void ap_main(u64 cpu) {
    if (streq(cmd, "work") || streq(cmd, "roi")) {
        compute((streq(cmd, "roi") ? ROI_ITERATIONS : WORK_ITERATIONS) / boot->ncpus);
        __asm__ volatile("lock incq %0" : "+m"(work_done));
        for (;;) __asm__ volatile("cli; hlt");
    }
    report("ap.index", cpu);
    if (streq(cmd, "stale") || streq(cmd, "shootdown") || streq(cmd, "hvflush")) {
        report("stale.cpu1_first", *(volatile u64*)kPage);
        __asm__ volatile("sti");
        step = 1;
        while (step != 2) __asm__ volatile("pause");
        report("stale.cpu1_second", *(volatile u64*)kPage);
        invlpg(kPage);
        report("stale.cpu1_flushed", *(volatile u64*)kPage);
        step = 3;
    } else if (streq(cmd, "ptshare")) {
        __asm__ volatile("sti");
        report("ptshare.cpu1_first", *(volatile u64*)kPage);
        step = 1;
        while (step != 2) __asm__ volatile("pause");
        report("ptshare.cpu1_second", *(volatile u64*)kPage);
        step = 3;
    } else if (streq(cmd, "ticks")) {
        while (ticks1 < 3) __asm__ volatile("sti; hlt; cli");
    }
    ap_up = 1;
    for (;;) __asm__ volatile("sti; hlt");
}

void ap_entry(void);
__asm__(".pushsection .text\n.global ap_entry\nap_entry:\n"
        "  movabs $ap_main, %rax\n  call *%rax\n1: hlt\n jmp 1b\n.popsection\n");

static void start_cpu(u64 cpu) {
    hypercall(VMMU_HC_START_CPU, cpu, (u64)ap_entry, ap_stack_top(cpu));
}
static void start_cpu1(void) { start_cpu(1); }

void kmain(struct vmmu_boot_info* info) {
    boot = info;
    next_frame = info->free_start;
    cmd = info->cmdline;
    set_gate(13, isr13);
    set_gate(14, isr14);
    set_gate(32, isr32);
    set_gate(240, isr240);
    set_gate(241, isr241);
    set_gate(242, isr242);
    idtr.limit = sizeof idt - 1;
    idtr.base = (u64)idt;
    __asm__ volatile("lidt %0" ::"m"(idtr));
    report("boot.ncpus", info->ncpus);
    if (streq(cmd, "ipi")) {
        start_cpu1();
        while (!ap_up) __asm__ volatile("pause");
        for (u64 round = 1; round <= 3; ++round) {
            send_ipi(VMMU_VEC_IPI_RESCHED, 1);
            while (ipis0 < round) __asm__ volatile("sti; hlt; cli");
        }
        report("ipi.cpu0", ipis0);
        report("ipi.cpu1", ipis1);
    } else if (streq(cmd, "stale") || streq(cmd, "shootdown") || streq(cmd, "hvflush")) {
        u64 a = alloc_frame(), b = alloc_frame();
        phys(a)[0] = 111;
        phys(b)[0] = 222;
        *pte_for(kPage) = a | 3;
        report("stale.cpu0_first", *(volatile u64*)kPage);
        start_cpu1();
        while (step != 1) __asm__ volatile("pause");
        *pte_for(kPage) = b | 3;
        invlpg(kPage);
        report("stale.cpu0_second", *(volatile u64*)kPage);
        if (streq(cmd, "shootdown")) {
            send_ipi(VMMU_VEC_IPI_SHOOTDOWN, 1);
            while (acks == 0) __asm__ volatile("pause");
        }
        if (streq(cmd, "hvflush")) {
            /* Input page: AddressSpace, Flags, ProcessorMask (CPU 1 only), one GVA. */
            u64 in = alloc_frame(), cr3;
            __asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
            phys(in)[0] = cr3;
            phys(in)[1] = 0;
            phys(in)[2] = 1ULL << 1;
            phys(in)[3] = kPage;
            register u64 r10 __asm__("r10") = 0;
            u64 ret = VMMU_HC_HYPERV;
            __asm__ volatile("outl %%eax, %%dx"
                             : "+a"(ret)
                             : "d"((u64)VMMU_PORT_HYPERCALL),
                               "D"(VMMU_HV_CALL_FLUSH_LIST | (1ULL << VMMU_HV_REP_COUNT_SHIFT)),
                               "S"(in), "r"(r10)
                             : "memory");
            report("hvflush.status", ret & VMMU_HV_STATUS_MASK);
            report("hvflush.reps", (ret >> VMMU_HV_REP_COUNT_SHIFT) & 0xfff);
        }
        step = 2;
        while (step != 3) __asm__ volatile("pause");
        report("stale.acks", acks);
    } else if (streq(cmd, "ptshare")) {
        u64 a = alloc_frame(), c = alloc_frame(), d = alloc_frame();
        phys(a)[0] = 111;
        phys(c)[0] = 333;
        phys(d)[0] = 444;
        *pte_for(kPage) = a | 3;
        *pte_for(kPage2) = c | 3;
        report("ptshare.cpu0_first", *(volatile u64*)kPage + *(volatile u64*)kPage2);
        start_cpu1();
        while (step != 1) __asm__ volatile("pause");
        *pte_for(kPage2) = d | 3;
        invlpg(kPage2);
        report("ptshare.cpu0_second", *(volatile u64*)kPage2);
        step = 2;
        while (step != 3) __asm__ volatile("pause");
    } else if (streq(cmd, "ticks")) {
        start_cpu1();
        while (ticks0 < 3) __asm__ volatile("sti; hlt; cli");
        while (!ap_up) __asm__ volatile("pause");
        report("ticks.cpu0", ticks0);
        report("ticks.cpu1", ticks1);
    } else if (streq(cmd, "twice")) {
        start_cpu1();
        start_cpu1();
    } else if (streq(cmd, "nocpu")) {
        start_cpu(2);
    } else if (streq(cmd, "work")) {
        for (u64 cpu = 1; cpu < info->ncpus; ++cpu) start_cpu(cpu);
        compute(WORK_ITERATIONS / info->ncpus);
        while (work_done != info->ncpus - 1) __asm__ volatile("pause");
    } else if (streq(cmd, "roi")) {
        roi_begin("par");
        for (u64 cpu = 1; cpu < info->ncpus; ++cpu) start_cpu(cpu);
        compute(ROI_ITERATIONS / info->ncpus);
        while (work_done != info->ncpus - 1) __asm__ volatile("pause");
        roi_end();
    }
    exit_guest(0);
}

char stack[16384] __attribute__((aligned(16), used));
void _start(void);
__asm__(".pushsection .text.entry, \"ax\"\n.global _start\n_start:\n"
        "  movabs $stack + 16384, %rsp\n"
        "  movabs $kmain, %rax\n"
        "  call *%rax\n"
        "1: hlt\n jmp 1b\n"
        ".popsection\n");
