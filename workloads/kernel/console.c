/* Console output, hypercalls to the engine, and the kernel's event counters. */
#include "kernel.h"
#include "x86.h"

static struct spinlock console_lock = SPINLOCK("console");

/* A hypercall is `out eax` to the hypercall port with the number in eax and arguments in
 * rdi, rsi (abi.h). `out` takes its port in dx, so rdx cannot also carry an argument: the
 * third one travels in r10, as Linux moves the fourth syscall argument out of rcx. */
static u64 hypercall(u64 nr, u64 a0, u64 a1, u64 a2) {
    register u64 r10 __asm__("r10") = a2;
    u64 ret = nr;
    __asm__ volatile("outl %%eax, %%dx"
                     : "+a"(ret)
                     : "d"((u64)VMMU_PORT_HYPERCALL), "D"(a0), "S"(a1), "r"(r10)
                     : "memory");
    return ret;
}

void hc_write(const char *s, u64 len) { hypercall(VMMU_HC_WRITE, (u64)s, len, VMMU_STREAM_KERNEL); }

/* A program's write() to fd 1 or 2, marked as such (abi.h) at no cost in guest instructions:
 * the stream is set where hc_write clears it. Linked after all other kernel code (kernel.ld,
 * .text_last), so adding it moved no other function. */
__attribute__((section(".text_last"))) void hc_write_program(const char *s, u64 len) {
    hypercall(VMMU_HC_WRITE, (u64)s, len, VMMU_STREAM_PROGRAM);
}

void hc_report(const char *key, u64 len, u64 value) {
    hypercall(VMMU_HC_REPORT, (u64)key, len, value);
}

u64 hc_clock(void) { return hypercall(VMMU_HC_CLOCK, 0, 0, 0); }

void hc_exit(u64 status) {
    hypercall(VMMU_HC_EXIT, status, 0, 0);
    for (;;)
        __asm__ volatile("cli; hlt");
}

void kprintf(const char *fmt, ...) {
    static char buf[512];
    spin_lock(&console_lock);
    va_list ap;
    va_start(ap, fmt);
    int n = vformat(buf, sizeof buf, fmt, ap);
    va_end(ap);
    hc_write(buf, (u64)n);
    spin_unlock(&console_lock);
}

void panic(const char *fmt, ...) {
    static char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vformat(buf, sizeof buf, fmt, ap);
    va_end(ap);
    hypercall(VMMU_HC_PANIC, (u64)buf, (u64)n, 0);
    for (;;)
        __asm__ volatile("cli; hlt");
}

static void report1(const char *name, u64 value) {
    char key[64];
    int n = 0;
    for (const char *p = "kernel."; *p; ++p)
        key[n++] = *p;
    for (const char *p = name; *p && n < (int)sizeof key - 1; ++p)
        key[n++] = *p;
    key[n] = 0;
    hc_report(key, (u64)n, value);
}

/* Every CPU's counters added up: the report speaks for the machine. */
void report_kernel_stats(void) {
    struct kernel_stats k;
    struct hv_counters h;
    memset(&k, 0, sizeof k);
    memset(&h, 0, sizeof h);
    for (u32 c = 0; c < ncpus; ++c) {
        const u64 *from = (const u64 *)&cpus[c].stats;
        u64 *to = (u64 *)&k;
        for (u64 i = 0; i < sizeof k / sizeof(u64); ++i)
            to[i] += from[i];
        h.switches += cpus[c].hv.switches;
        h.flush_spaces += cpus[c].hv.flush_spaces;
        h.flush_lists += cpus[c].hv.flush_lists;
        h.flush_entries += cpus[c].hv.flush_entries;
        h.remote_flushes += cpus[c].hv.remote_flushes;
        h.remote_targets += cpus[c].hv.remote_targets;
    }
    report1("syscalls", k.syscalls);
    report1("page_faults", k.page_faults);
    report1("pf_demand_zero", k.pf_demand_zero);
    report1("pf_demand_zero_2m", k.pf_demand_zero_2m);
    report1("pf_cow", k.pf_cow);
    report1("cow_copy", k.cow_copy);
    report1("cow_reuse", k.cow_reuse);
    report1("pf_fatal", k.pf_fatal);
    report1("forks", k.forks);
    report1("execs", k.execs);
    report1("exits", k.exits);
    report1("killed", k.killed);
    report1("context_switches", k.context_switches);
    report1("processes_created", k.processes_created);
    report1("timer_ticks", k.timer_ticks);
    report1("idle_halts", k.idle_halts);
    report1("cr3_loads", k.cr3_loads);
    report1("invlpgs", k.invlpgs);
    report1("fpu_switches", k.fpu_switches);
    report1("frames_in_use", frames_in_use);
    report1("cpus", ncpus);
    report1("threads", k.threads);
    report1("migrations", k.migrations);
    report1("ipis_sent", k.ipis_sent);
    report1("ipis_received", k.ipis_received);
    report1("shootdowns", k.shootdowns);
    report1("shootdown_targets", k.shootdown_targets);
    report1("shootdown_lazy", k.shootdown_lazy);
    report1("shootdowns_served", k.shootdowns_served);
    if (ncpus > 1)
        report1("shootdown_ipis", k.shootdown_ipis);
    /* How the work spread: each CPU's context switches and idle halts (several CPUs only). */
    for (u32 c = 0; ncpus > 1 && c < ncpus; ++c) {
        char name[32];
        int n = 0;
        for (const char *p = "cpu"; *p; ++p)
            name[n++] = *p;
        name[n++] = (char)('0' + c);
        const char *fields[2] = {".context_switches", ".idle_halts"};
        u64 values[2] = {cpus[c].stats.context_switches, cpus[c].stats.idle_halts};
        for (int f = 0; f < 2; ++f) {
            int m = n;
            for (const char *p = fields[f]; *p; ++p)
                name[m++] = *p;
            name[m] = 0;
            report1(name, values[f]);
        }
    }
    if (hv_recommended) {
        report1("hv_switches", h.switches);
        report1("hv_flush_spaces", h.flush_spaces);
        report1("hv_flush_lists", h.flush_lists);
        report1("hv_flush_entries", h.flush_entries);
        report1("hv_hypercalls", h.switches + h.flush_spaces + h.flush_lists);
        if (ncpus > 1) {
            report1("hv_remote_flushes", h.remote_flushes);
            report1("hv_remote_targets", h.remote_targets);
        }
    }
}
