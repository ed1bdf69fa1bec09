/* System call wrappers (numbers and convention: vmmu/syscalls.h). SYSCALL overwrites rcx
 * (return address) and r11 (flags) (Intel SDM vol. 2, SYSCALL). */
#include "libc.h"

static inline long sc(long n, long a, long b, long c) {
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a), "S"(b), "d"(c)
                     : "rcx", "r11", "memory");
    return ret;
}

void _exit(int status) {
    sc(SYS_EXIT, status, 0, 0);
    for (;;)
        ;
}
void _Exit(int status) { _exit(status); }

int fork(void) { return (int)sc(SYS_FORK, 0, 0, 0); }
int exec(const char *name, char *const argv[]) { return (int)sc(SYS_EXEC, (long)name, (long)argv, 0); }
int wait(int *status) { return (int)sc(SYS_WAIT, (long)status, 0, 0); }
int getpid(void) { return (int)sc(SYS_GETPID, 0, 0, 0); }
void yield(void) { sc(SYS_YIELD, 0, 0, 0); }
void sleep(uint64_t ticks) { sc(SYS_SLEEP, (long)ticks, 0, 0); }
long write(int fd, const void *buf, size_t len) { return sc(SYS_WRITE, fd, (long)buf, (long)len); }
int report(const char *key, uint64_t value) { return (int)sc(SYS_REPORT, (long)key, (long)value, 0); }
uint64_t uptime(void) { return (uint64_t)sc(SYS_UPTIME, 0, 0, 0); }
uint64_t vmmu_instructions(void) { return (uint64_t)sc(SYS_CLOCK, 0, 0, 0); }
int sched_yield(void) {
    yield();
    return 0;
}

void shutdown(int status) {
    sc(SYS_SHUTDOWN, status, 0, 0);
    for (;;)
        ;
}

void *sbrk(intptr_t increment) {
    uintptr_t old = (uintptr_t)sc(SYS_BRK, 0, 0, 0);
    if (increment == 0)
        return (void *)old;
    uintptr_t want = old + (uintptr_t)increment;
    if ((uintptr_t)sc(SYS_BRK, (long)want, 0, 0) != want)
        return (void *)-1;
    return (void *)old;
}

void *mmap_anon(size_t len, int flags) {
    long r = sc(SYS_MMAP, (long)len, flags, 0);
    return r < 0 ? (void *)-1 : (void *)r;
}

int munmap(void *addr, size_t len) { return (int)sc(SYS_MUNMAP, (long)addr, (long)len, 0); }
