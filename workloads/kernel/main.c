/* Boot: check what the engine handed over, set up the CPU tables, memory and the first
 * process, then schedule forever. Entered from _start (entry.S) on boot_stack. */
#include "kernel.h"
#include "x86.h"

u8 boot_stack[16384] __attribute__((aligned(16))); /* size matches BOOT_STACK_SIZE in entry.S */

static struct vmmu_boot_info boot_copy;
const struct vmmu_boot_info *boot = &boot_copy;

void kmain(const struct vmmu_boot_info *info) {
    /* Traps first: nothing below may fault before the IDT is loaded. */
    cpu_init(0);
    cpus[0].started = 1;
    fpu_init_cpu();
    if (info->magic != VMMU_BOOT_MAGIC)
        panic("bad boot info magic %llx", info->magic);
    boot_copy = *info;
    if (boot->ncpus > VMMU_MAX_CPUS)
        panic("boot info: %llu CPUs, at most %d", boot->ncpus, VMMU_MAX_CPUS);
    ncpus = boot->ncpus ? (u32)boot->ncpus : 1;
    /* Before the first address-space switch: what the hypervisor recommends decides how. */
    hv_init();
    boot_copy.cmdline[VMMU_CMDLINE_MAX - 1] = 0;
    if (boot->free_start % HUGE_SIZE || boot->mem_bytes % HUGE_SIZE ||
        boot->free_start >= boot->mem_bytes)
        panic("boot info: free memory [%llx, %llx) is not a 2 MiB-aligned range",
              boot->free_start, boot->mem_bytes);
    kprintf("vmmu kernel: %llu MiB guest memory, %llu MiB free, timer every %llu instructions%s\n",
            boot->mem_bytes >> 20, (boot->mem_bytes - boot->free_start) >> 20, boot->timer_period,
            boot->flags & VMMU_BOOT_FLAG_GUEST_2M ? ", 2 MiB anonymous pages" : "");
    frame_init(boot->free_start, boot->mem_bytes);
    vm_init(boot->mem_bytes);
    kprintf("vmmu kernel: command line \"%s\"\n", boot->cmdline);
    kernel_start_init(boot->cmdline);
    if (ncpus > 1)
        kprintf("vmmu kernel: %u CPUs\n", ncpus);
    smp_start_aps();
    scheduler();
}
