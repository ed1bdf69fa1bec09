/* Guest libc: sched_yield (the kernel's yield system call). */
#ifndef VMMU_SCHED_H
#define VMMU_SCHED_H
int sched_yield(void);
#endif
