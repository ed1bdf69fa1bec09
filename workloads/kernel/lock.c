/* Spinlocks (kernel.h): ticket locks, as Linux's x86 spinlocks were from 2.6.25 (Nick Piggin,
 * "x86: FIFO ticket spinlocks", 2008) until queued spinlocks replaced them in 4.2. A CPU takes
 * the next ticket with one `lock xadd` (Intel SDM vol. 2, XADD; LOCK) and spins on plain reads of
 * the ticket being served, with `pause` in the loop (SDM vol. 2, PAUSE: the spin-wait hint).
 * Release is a plain store of the next ticket by the holder, the only writer of `owner`: x86
 * stores are not reordered with earlier loads or stores (SDM vol. 3, 9.2.2), and the compiler
 * barrier keeps the critical section inside.
 *
 * Why FIFO: a test-and-set lock lets whoever looks first take it, and here that starved CPUs
 * for good. The engine runs the vCPUs in turns (--vcpu-quantum) that end at block boundaries,
 * so a CPU repeating a short loop that takes a lock (a thread yielding while it waits: yield
 * takes the process table) is stopped at the same point of that loop every turn once the
 * quantum is close to a multiple of the loop: a turn that would end inside a block runs to its
 * end, which pulls the stopping point back onto that block's end. When that point lies inside
 * the critical section, the waiting CPUs, which run only while the holder is stopped, always find
 * the lock taken (`threads threads=4 table_mib=2 updates=20000` on 6 vCPUs at quantum 5000 did,
 * forever). With tickets a waiter is served before the holder can take the lock again: the
 * holder's next acquire waits behind it. On hardware the same unfairness starves CPUs under
 * contention, which is why Linux made its locks FIFO.
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
    /* Only this CPU writes its own index there, and clears it before releasing. */
    if (l->cpu == me)
        panic("lock %s: already held by this CPU (%u)", l->name, me);
    u32 ticket = atomic_fetch_add32(&l->next, 1);
    for (u64 spins = 0; l->owner != ticket; ++spins) {
        if (spins == SPIN_LIMIT)
            panic("lock %s: CPU %u spun %llu times for ticket %u, serving %u (CPU %u)", l->name,
                  me, spins, ticket, l->owner, l->cpu);
        cpu_relax();
        tlb_poll();
    }
    l->cpu = me;
}

void spin_unlock(struct spinlock *l) {
    if (l->cpu != mycpu()->id)
        panic("lock %s: released by CPU %u, which does not hold it", l->name, mycpu()->id);
    /* The holder's index goes first: the next holder writes its own once it is served. */
    l->cpu = NOCPU;
    __asm__ volatile("" : : : "memory");
    l->owner = l->owner + 1;
}

int spin_holding(struct spinlock *l) { return l->cpu == mycpu()->id; }
