/* Regions of interest: roi_begin(name) / roi_end() mark the part of a program whose counters
 * the engine reports as a window (README.md, "Windows"), as gem5's m5 work_begin/work_end and
 * Sniper's SimRoiStart/SimRoiEnd do. Each marker is one hypercall straight from the program
 * (the guest runs at CPL0 throughout, docs/ARCHITECTURE.md), so the kernel adds nothing to a
 * region's edges. */
#include "libc.h"

#include "vmmu/abi.h"

/* The running program's name (argv[0], stored by crt0.S): the engine names it in errors. */
const char *vmmu_program_name;

static void roi_hypercall(uint64_t nr, uint64_t a0, uint64_t a1, uint64_t a2) {
    register uint64_t r10 __asm__("r10") = a2;
    __asm__ volatile("outl %%eax, %%dx"
                     : "+a"(nr)
                     : "d"((uint64_t)VMMU_PORT_HYPERCALL), "D"(a0), "S"(a1), "r"(r10)
                     : "memory");
}

void roi_begin(const char *name) {
    roi_hypercall(VMMU_HC_ROI_BEGIN, (uint64_t)name, strlen(name), (uint64_t)vmmu_program_name);
}

void roi_end(void) { roi_hypercall(VMMU_HC_ROI_END, (uint64_t)vmmu_program_name, 0, 0); }
