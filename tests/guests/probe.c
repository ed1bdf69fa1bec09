/* A tiny test kernel that exercises one engine mechanism per command-line word.
 *
 * It boots on the engine's boot page tables, installs an IDT, runs the probe its command line
 * names and reports what it saw through the report hypercall; the engine tests
 * (tests/engine_*_test.cpp) check those reports and the engine's own counters.
 *
 *   mmio      a write through a fresh mapping lands at the gPA the PTE names, not at the VA
 *   beyond    a read through a PTE naming a gPA beyond guest memory (the run must stop)
 *   faults    100 demand faults (each must arrive as #PF), then the error code of a read, a write
 *             and a protection fault
 *   syscall   a syscall round trip: RCX/R11 as the SDM says, handler runs at LSTAR
 *   timer     sti, then a two-instruction loop; the timer handler reports the interrupted RIP
 *   events    mov cr3 and invlpg with known operands
 *   ud        executes ud2 with no gate for #UD (a guest error the engine must diagnose)
 *   panic     calls the panic hypercall
 *   spin      loops forever (instruction budget)
 *   late      keeps interrupts off for several timer periods, then enables them
 *   compute   the benchmark compute loop (bench_compute), 10 M iterations
 *   random    the benchmark random-access loop (bench_random) over 16 MiB, 2 M updates
 *   roi       region "loop" three times (1000, 1000 and 500 passes of a 5-instruction loop with
 *             one load and one store; the last inside region "outer"): each region holds
 *             exactly 5 k + 2 instructions and 2 k data accesses (roi_loop)
 *   roi_unclosed, roi_end_only, roi_deep, roi_badname, roi_twice: region markers misused
 *
 * bench_compute and bench_random are position-independent and touch memory only through their
 * arguments, so tests/bench/ also runs their bytes on a bare Unicorn for comparison.
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
    return nr; /* the engine returns its result in rax */
}

static u64 slen(const char* s) {
    u64 n = 0;
    while (s[n]) ++n;
    return n;
}
static void report(const char* key, u64 v) { hypercall(VMMU_HC_REPORT, (u64)key, slen(key), v); }
static void put(const char* s) { hypercall(VMMU_HC_WRITE, (u64)s, slen(s), 0); }
static void exit_guest(u64 status) {
    hypercall(VMMU_HC_EXIT, status, 0, 0);
    for (;;) __asm__ volatile("cli; hlt");
}
static int streq(const char* a, const char* b) {
    while (*a && *a == *b) ++a, ++b;
    return *a == *b;
}

/* ---- Interrupt entry: stubs push a uniform frame and call dispatch() ---- */
#define STUB(n, has_error)                                                                  \
    void isr##n(void);                                                                      \
    __asm__(".pushsection .text\n.global isr" #n "\nisr" #n ":\n" has_error "  pushq $" #n "\n" \
            "  jmp isr_common\n.popsection\n");
STUB(0, "  pushq $0\n")
STUB(6, "  pushq $0\n")
STUB(13, "")
STUB(14, "")
STUB(32, "  pushq $0\n")

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
    /* interrupt gate, present, DPL0, selector 0x08 (SDM vol. 3, 6.14.1) */
    idt[2 * vec] = (a & 0xffff) | ((u64)VMMU_SEL_KERNEL_CS << 16) | (0x8eull << 40) |
                   ((a >> 16 & 0xffff) << 48);
    idt[2 * vec + 1] = a >> 32;
}

/* ---- Paging on the engine's boot tables, through the direct map ---- */
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

/* ---- Probes ---- */
static volatile u64 faults, last_error, last_cr2, ticks;
static volatile u64 demand_map = 1; /* 1: the #PF handler maps the page; 0: it makes it writable */
u64 syscall_rcx __attribute__((used)), syscall_r11 __attribute__((used));

void dispatch(struct frame* f) {
    if (f->vector == 14) {
        u64 cr2;
        __asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
        ++faults;
        last_error = f->error;
        last_cr2 = cr2;
        u64* pte = pte_for(cr2);
        if (*pte & 1)
            *pte |= 2; /* protection fault: grant write */
        else
            *pte = alloc_frame() | (demand_map ? 3 : 1);
        __asm__ volatile("invlpg (%0)" ::"r"(cr2) : "memory");
        return;
    }
    if (f->vector == 32) {
        ++ticks;
        report("timer.rip", f->rip);
        report("timer.rcx", f->rcx);
        exit_guest(0);
    }
    report("unexpected.vector", f->vector);
    report("unexpected.rip", f->rip);
    report("unexpected.error", f->error);
    exit_guest(1);
}

void syscall_entry(void);
__asm__(".pushsection .text\n.global syscall_entry\nsyscall_entry:\n"
        "  movabs $syscall_rcx, %rax\n mov %rcx, (%rax)\n"
        "  movabs $syscall_r11, %rax\n mov %r11, (%rax)\n"
        "  mov $42, %eax\n"
        "  push %r11\n popfq\n jmp *%rcx\n.popsection\n");

static void wrmsr(u32 msr, u64 v) {
    __asm__ volatile("wrmsr" ::"c"(msr), "a"((u32)v), "d"((u32)(v >> 32)));
}

static void probe_mmio(void) {
    u64 va = VMMU_USER_DATA_BASE + 0x5000, pa = alloc_frame();
    *pte_for(va) = pa | 3;
    *(volatile u64*)(va + 8) = 0x1122334455667788ull;
    report("mmio.via_direct_map", phys(pa)[1]);
    report("mmio.gpa", pa);
}

static void probe_beyond(void) {
    /* a PTE naming the frame at 4 GiB: beyond the probe's 64 MiB */
    u64 va = VMMU_USER_DATA_BASE + 0x7000;
    *pte_for(va) = (1ull << 32) | 3;
    report("beyond.value", *(volatile u64*)va);
}

static void probe_faults(void) {
    u64 base = VMMU_USER_DATA_BASE + 0x100000, sum = 0;
    for (u64 i = 0; i < 100; ++i) sum += *(volatile u64*)(base + i * 4096); /* read faults */
    report("faults.demand", faults);
    report("faults.sum", sum);
    report("faults.read_error", last_error);
    *(volatile u64*)(base + 200 * 4096) = 1; /* write, not present */
    report("faults.write_error", last_error);
    demand_map = 0;
    (void)*(volatile u64*)(base + 300 * 4096); /* read, not present: mapped read-only */
    report("faults.read_np_error", last_error);
    *(volatile u64*)(base + 300 * 4096) = 7; /* write to read-only: protection */
    report("faults.protect_error", last_error);
    report("faults.total", faults);
    report("faults.cr2", last_cr2);
}

static void probe_syscall(void) {
    wrmsr(0xc0000082, (u64)syscall_entry);
    wrmsr(0xc0000084, 0x200); /* SFMASK: IF */
    u64 ret, flags_before;
    __asm__ volatile("pushfq\n pop %%rax\n or $0x4, %%rax\n push %%rax\n popfq\n" /* set PF */
                     "pushfq\n pop %1\n"
                     "syscall\n"
                     "after_syscall:\n"
                     : "=a"(ret), "=r"(flags_before)
                     :
                     : "rcx", "r11", "memory");
    extern char after_syscall[];
    report("syscall.ret", ret);
    report("syscall.rcx_ok", syscall_rcx == (u64)after_syscall);
    report("syscall.r11", syscall_r11);
    report("syscall.flags_before", flags_before);
}

static void probe_events(void) {
    u64 cr3;
    __asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
    __asm__ volatile("mov %0, %%cr3" ::"r"(cr3) : "memory");
    u64 va = VMMU_DIRECT_MAP + 0x123000;
    __asm__ volatile("invlpg 0x40(%0)" ::"r"(va) : "memory");
    report("events.cr3", cr3);
    report("events.invlpg", va + 0x40);
}

/* rdi = iterations. Pure register arithmetic. */
void bench_compute(u64 iterations);
__asm__(".pushsection .text\n.global bench_compute\nbench_compute:\n"
        "  mov $0x9e3779b97f4a7c15, %rax\n  xor %ecx, %ecx\n"
        "1: imul %rax, %rcx\n  add $1, %rcx\n  xor %rcx, %rax\n  sub $1, %rdi\n  jnz 1b\n"
        "  ret\n.global bench_compute_end\nbench_compute_end:\n.popsection\n");

/* rdi = table, rsi = index mask (entries - 1), rdx = updates: xorshift64 read-modify-write. */
void bench_random(u64* table, u64 mask, u64 updates);
__asm__(".pushsection .text\n.global bench_random\nbench_random:\n"
        "  mov $0x2545f4914f6cdd1d, %rax\n"
        "1: mov %rax, %rcx\n  shl $13, %rcx\n  xor %rcx, %rax\n"
        "  mov %rax, %rcx\n  shr $7, %rcx\n  xor %rcx, %rax\n"
        "  mov %rax, %rcx\n  shl $17, %rcx\n  xor %rcx, %rax\n"
        "  mov %rax, %rcx\n  and %rsi, %rcx\n  add %rax, (%rdi,%rcx,8)\n"
        "  sub $1, %rdx\n  jnz 1b\n"
        "  ret\n.global bench_random_end\nbench_random_end:\n.popsection\n");

/* Region "loop" around k passes of a loop whose instructions and accesses are known exactly:
 * the region starts after the begin marker's `out` and ends before the end marker's, so it holds
 * mov rcx (1), k passes of 5 instructions (a load, a store), and mov eax (1). The accesses are
 * 4 bytes wide: Unicorn 2.0.1 delivers an 8-byte MMIO access as two 4-byte ones
 * (docs/UNICORN-2.0.1.md, fact 4). */
static unsigned roi_cell;
static void roi_loop(u64 k) {
    register u64 r10 __asm__("r10") = 0;
    const char* name = "loop";
    __asm__ volatile("mov %[nb], %%eax\n out %%eax, %%dx\n"
                     "mov %[k], %%rcx\n"
                     "1: mov (%[p]), %%eax\n add $1, %%eax\n mov %%eax, (%[p])\n dec %%rcx\n"
                     " jnz 1b\n"
                     "mov %[ne], %%eax\n out %%eax, %%dx\n"
                     :
                     : [nb] "i"(VMMU_HC_ROI_BEGIN), [ne] "i"(VMMU_HC_ROI_END), [k] "r"(k),
                       [p] "r"(&roi_cell), "d"((u64)VMMU_PORT_HYPERCALL), "D"(name), "S"(4ul),
                       "r"(r10)
                     : "rax", "rcx", "memory");
}
static void roi_begin(const char* name) { hypercall(VMMU_HC_ROI_BEGIN, (u64)name, slen(name), 0); }
static void roi_end(void) { hypercall(VMMU_HC_ROI_END, 0, 0, 0); }

static void probe_roi(const char* cmd) {
    if (streq(cmd, "roi")) {
        roi_loop(1000);
        roi_loop(1000);
        roi_begin("outer");
        roi_loop(500);
        roi_end();
        report("roi.cell", roi_cell);
    } else if (streq(cmd, "roi_unclosed")) {
        roi_begin("open");
    } else if (streq(cmd, "roi_end_only")) {
        roi_end();
    } else if (streq(cmd, "roi_deep")) {
        roi_begin("a");
        roi_begin("b");
        roi_begin("c");
    } else if (streq(cmd, "roi_badname")) {
        roi_begin("two words");
    } else if (streq(cmd, "roi_twice")) {
        roi_begin("a");
        roi_begin("a");
    }
}

static void probe_bench_random(void) {
    u64 base = VMMU_USER_DATA_BASE + 0x40000000ull, bytes = 16ull << 20;
    for (u64 off = 0; off < bytes; off += 4096) *pte_for(base + off) = alloc_frame() | 3;
    bench_random((u64*)base, bytes / 8 - 1, 2000000);
}

void kmain(struct vmmu_boot_info* info) {
    boot = info;
    next_frame = info->free_start;
    set_gate(0, isr0);
    set_gate(6, isr6);
    set_gate(13, isr13);
    set_gate(14, isr14);
    set_gate(32, isr32);
    idtr.limit = sizeof idt - 1;
    idtr.base = (u64)idt;
    const char* cmd = info->cmdline;
    if (streq(cmd, "ud")) {
        __asm__ volatile("ud2"); /* before lidt: no IDT, so the engine must diagnose it */
    }
    __asm__ volatile("lidt %0" ::"m"(idtr));
    put("probe: ");
    put(cmd);
    put("\n");
    if (streq(cmd, "mmio")) probe_mmio();
    else if (streq(cmd, "beyond")) probe_beyond();
    else if (streq(cmd, "faults")) probe_faults();
    else if (streq(cmd, "syscall")) probe_syscall();
    else if (streq(cmd, "events")) probe_events();
    else if (streq(cmd, "panic")) {
        const char* m = "probe panic";
        hypercall(VMMU_HC_PANIC, (u64)m, slen(m), 0);
    } else if (streq(cmd, "late")) {
        /* interrupts stay off for several timer periods, then come on: one late tick */
        for (volatile u64 i = 0; i < 3000; ++i) {
        }
        __asm__ volatile("sti\n1: jmp 1b");
    } else if (streq(cmd, "count")) {
        /* 100000 iterations of a one-store loop: the memory total shows lost or doubled work */
        static volatile u64 total;
        for (u64 i = 0; i < 100000; ++i) total = total + 1;
        report("count.total", total);
    } else if (streq(cmd, "compute")) {
        bench_compute(10000000);
    } else if (streq(cmd, "random")) {
        probe_bench_random();
    } else if (streq(cmd, "spin")) {
        for (;;) __asm__ volatile("");
    } else if (streq(cmd, "timer")) {
        __asm__ volatile("xor %%ecx, %%ecx\n sti\n"
                         ".global timer_loop\ntimer_loop:\n inc %%rcx\n"
                         ".global timer_jmp\ntimer_jmp:\n jmp timer_loop\n" ::: "rcx");
    } else if (cmd[0] == 'r' && cmd[1] == 'o' && cmd[2] == 'i') {
        probe_roi(cmd);
    } else if (streq(cmd, "idle")) {
        __asm__ volatile("sti\n hlt\n"); /* wakes on the first tick, which exits */
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
