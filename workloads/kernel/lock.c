/* Spinlocks (kernel.h). Acquire is test-and-test-and-set: read until the lock looks free, then
 * one `lock cmpxchg` claims it (Intel SDM vol. 2, CMPXCHG; LOCK), so a waiting CPU spins on
 * plain reads, with `pause` in the loop (SDM vol. 2, PAUSE: the spin-wait hint). Release is a
 * plain store: x86 stores are not reordered with earlier loads or stores (SDM vol. 3, 9.2.2),
 * and the compiler barrier keeps the critical section inside.
 *
 * The kernel runs with interrupts off, so no interrupt handler can want a lock its CPU holds.
 * A spinning CPU serves TLB shootdowns itself (tlb_poll): the holder may be waiting for its ack
 * while this CPU, interrupts off, cannot take the IPI. */
#include "kernel.h"
#include "x86.h"

/* Spins this long (about a billion guest instructions) before calling it a deadlock. */
#define SPIN_LIMIT (1ULL << 27)

void spin_lock(struct spinlock *l) {
    u32 me = mycpu()->id;
    if (l->locked && l->cpu == me)
        panic("lock %s: already held by this CPU (%u)", l->name, me);
    for (u64 spins = 0;; ++spins) {
        if (!l->locked && atomic_cmpxchg32(&l->locked, 0, 1) == 0)
            break;
        if (spins == SPIN_LIMIT)
            panic("lock %s: CPU %u spun %llu times, held by CPU %u", l->name, me, spins, l->cpu);
        cpu_relax();
        tlb_poll();
    }
    l->cpu = me;
}

void spin_unlock(struct spinlock *l) {
    if (!l->locked || l->cpu != mycpu()->id)
        panic("lock %s: released by CPU %u, which does not hold it", l->name, mycpu()->id);
    /* The holder's index goes first: a CPU that finds the lock taken by another, just claimed
     * and its index not yet written, must not read this CPU's old index as the holder's. */
    l->cpu = NOCPU;
    __asm__ volatile("" : : : "memory");
    l->locked = 0;
}

int spin_holding(struct spinlock *l) { return l->locked && l->cpu == mycpu()->id; }
