/* Console output, hypercalls to the engine, and the kernel's event counters. */
#include "kernel.h"
#include "x86.h"

struct kstats kstats;

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
    va_list ap;
    va_start(ap, fmt);
    int n = vformat(buf, sizeof buf, fmt, ap);
    va_end(ap);
    hc_write(buf, (u64)n);
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

void report_kernel_stats(void) {
    report1("syscalls", kstats.syscalls);
    report1("page_faults", kstats.page_faults);
    report1("pf_demand_zero", kstats.pf_demand_zero);
    report1("pf_demand_zero_2m", kstats.pf_demand_zero_2m);
    report1("pf_cow", kstats.pf_cow);
    report1("cow_copy", kstats.cow_copy);
    report1("cow_reuse", kstats.cow_reuse);
    report1("pf_fatal", kstats.pf_fatal);
    report1("forks", kstats.forks);
    report1("execs", kstats.execs);
    report1("exits", kstats.exits);
    report1("killed", kstats.killed);
    report1("context_switches", kstats.context_switches);
    report1("processes_created", kstats.processes_created);
    report1("timer_ticks", kstats.timer_ticks);
    report1("idle_halts", kstats.idle_halts);
    report1("cr3_loads", kstats.cr3_loads);
    report1("invlpgs", kstats.invlpgs);
    report1("fpu_switches", kstats.fpu_switches);
    report1("frames_in_use", frames_in_use);
    if (hv_recommended) {
        report1("hv_switches", hv_stats.switches);
        report1("hv_flush_spaces", hv_stats.flush_spaces);
        report1("hv_flush_lists", hv_stats.flush_lists);
        report1("hv_flush_entries", hv_stats.flush_entries);
        report1("hv_hypercalls",
                hv_stats.switches + hv_stats.flush_spaces + hv_stats.flush_lists);
    }
}
