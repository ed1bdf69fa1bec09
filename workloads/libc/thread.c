/* Threads: thread_create / thread_join over the kernel's clone and join (vmmu/syscalls.h), and
 * a spinlock for user code. Each thread gets a 64 KiB stack from mmap, unmapped when it is
 * joined. */
#include "libc.h"

#define THREAD_STACK (64 * 1024)
#define MAX_THREADS 64

long vmmu_clone(void *stack_top, int (*fn)(void *), void *arg); /* clone.S */

static struct {
    int tid;
    void *stack;
} stacks[MAX_THREADS];
static struct user_lock stacks_lock;

static inline long sc2(long n, long a, long b) {
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b) : "rcx", "r11", "memory");
    return ret;
}

/* xchg locks by itself (Intel SDM vol. 2, XCHG); `pause` while waiting; after a while the
 * holder is probably descheduled on this very CPU, so give the CPU away. */
void user_lock(struct user_lock *l) {
    for (unsigned spins = 0;; ++spins) {
        uint32_t v = 1;
        if (!l->locked) {
            __asm__ volatile("xchgl %0, %1" : "+r"(v), "+m"(l->locked) : : "memory");
            if (v == 0)
                return;
        }
        if (spins % 64 == 63)
            yield();
        else
            __asm__ volatile("pause" : : : "memory");
    }
}

void user_unlock(struct user_lock *l) {
    __asm__ volatile("" : : : "memory");
    l->locked = 0;
}

int thread_create(int (*fn)(void *), void *arg) {
    user_lock(&stacks_lock);
    int slot = -1;
    for (int i = 0; i < MAX_THREADS && slot < 0; ++i)
        if (!stacks[i].stack)
            slot = i;
    if (slot < 0) {
        user_unlock(&stacks_lock);
        return -VMMU_EAGAIN;
    }
    char *stack = mmap_anon(THREAD_STACK, 0);
    if (stack == (void *)-1) {
        user_unlock(&stacks_lock);
        return -VMMU_ENOMEM;
    }
    long tid = vmmu_clone(stack + THREAD_STACK, fn, arg);
    if (tid < 0) {
        munmap(stack, THREAD_STACK);
    } else {
        stacks[slot].tid = (int)tid;
        stacks[slot].stack = stack;
    }
    user_unlock(&stacks_lock);
    return (int)tid;
}

int thread_join(int tid, int *status) {
    int r = (int)sc2(SYS_JOIN, tid, (long)status);
    if (r < 0)
        return r;
    user_lock(&stacks_lock);
    for (int i = 0; i < MAX_THREADS; ++i) {
        if (stacks[i].stack && stacks[i].tid == tid) {
            munmap(stacks[i].stack, THREAD_STACK);
            stacks[i].stack = 0;
        }
    }
    user_unlock(&stacks_lock);
    return r;
}

int ncpus(void) { return (int)sc2(SYS_NCPUS, 0, 0); }
