/* errno, the clock (<time.h>) and the rounding mode (<fenv.h>). */
#include <fenv.h>
#include <time.h>

#include "libc.h"

int errno;

/* Guest instructions retired since boot: exact and deterministic (a hypercall reads the vCPU's
 * count; it costs a system call and an `out`, which every scheme sees as an I/O exit). */
clock_t clock(void) { return (clock_t)vmmu_instructions(); }

time_t time(time_t *t) {
    if (t)
        *t = 0;
    return 0;
}

int clock_gettime(clockid_t id, struct timespec *ts) {
    if (id != CLOCK_MONOTONIC && id != CLOCK_REALTIME) {
        errno = EINVAL;
        return -1;
    }
    uint64_t n = id == CLOCK_MONOTONIC ? vmmu_instructions() : 0;
    ts->tv_sec = (time_t)(n / 1000000000u);
    ts->tv_nsec = (long)(n % 1000000000u);
    return 0;
}

/* The rounding mode lives in MXCSR bits 13-14 (SSE) and the x87 control word bits 10-11; both
 * are kept equal, as glibc's fesetround does. */
int fegetround(void) {
    uint32_t mxcsr;
    __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
    return (int)((mxcsr >> 3) & 0xc00);
}

int fesetround(int mode) {
    if (mode & ~0xc00)
        return -1;
    uint32_t mxcsr;
    uint16_t cw;
    __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
    mxcsr = (mxcsr & ~0x6000u) | ((uint32_t)mode << 3);
    __asm__ volatile("ldmxcsr %0" : : "m"(mxcsr));
    __asm__ volatile("fnstcw %0" : "=m"(cw));
    cw = (uint16_t)((cw & ~0xc00) | mode);
    __asm__ volatile("fldcw %0" : : "m"(cw));
    return 0;
}
