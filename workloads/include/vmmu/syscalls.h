/* vmmu guest system calls: shared by the teaching kernel and the guest libc.
 *
 * Convention (the x86-64 System V kernel convention, as Linux uses it): number in rax,
 * arguments in rdi, rsi, rdx, r10, r8, r9; result in rax, a negative errno on failure.
 * The kernel returns with iretq (never sysretq: the guest runs at CPL0 throughout).
 */
#ifndef VMMU_SYSCALLS_H
#define VMMU_SYSCALLS_H

#define SYS_EXIT 1     /* exit(status): never returns; status is a full int */
#define SYS_FORK 2     /* fork(): child pid in the parent, 0 in the child (copy-on-write) */
#define SYS_EXEC 3     /* exec(name, argv): replace the image with archive program `name` */
#define SYS_WAIT 4     /* wait(&status): reap any child, return its pid; -ECHILD if none */
#define SYS_GETPID 5   /* getpid() */
#define SYS_YIELD 6    /* yield(): give the CPU to the next runnable process */
#define SYS_SLEEP 7    /* sleep(ticks): block for that many timer ticks */
#define SYS_BRK 8      /* brk(addr): set the heap end; brk(0) returns the current end */
#define SYS_MMAP 9     /* mmap(len, flags): anonymous memory, returns its address */
#define SYS_MUNMAP 10  /* munmap(addr, len) */
#define SYS_WRITE 11   /* write(fd, buf, len): fd 1 and 2 go to the console */
#define SYS_REPORT 12  /* report(key, value): a named result, forwarded to the engine */
#define SYS_SHUTDOWN 13 /* shutdown(status): kernel reports its counters and ends the run */
#define SYS_UPTIME 14  /* uptime(): timer ticks since boot */
#define SYS_CLOCK 15   /* clock(): guest instructions the VM retired since boot (monotonic, exact) */
/* clone(flags, stack): a thread sharing the caller's address space (flags must be
 * VMMU_CLONE_VM); it resumes after the call on `stack` (16-byte aligned, inside a writable
 * region) with rax = 0, every other register as the caller's. Returns its id. */
#define SYS_CLONE 16
#define SYS_JOIN 17  /* join(tid, &status): wait for a thread this process created, reap it */
#define SYS_NCPUS 18 /* ncpus(): how many CPUs the kernel runs on */

#define VMMU_CLONE_VM 0x100 /* Linux's CLONE_VM: share the address space */

/* mmap flags (anonymous memory only). */
#define VMMU_MAP_HUGE 0x1   /* back with 2 MiB pages where alignment allows */
#define VMMU_MAP_SHARED 0x2 /* shared with children across fork (populated at mmap time) */

/* Error numbers (Linux values). */
#define VMMU_EPERM 1
#define VMMU_ENOENT 2
#define VMMU_ESRCH 3
#define VMMU_E2BIG 7
#define VMMU_ENOEXEC 8
#define VMMU_ECHILD 10
#define VMMU_EAGAIN 11
#define VMMU_ENOMEM 12
#define VMMU_EFAULT 14
#define VMMU_EINVAL 22
#define VMMU_ENOSYS 38

/* Exit status the kernel gives a process it kills for a fatal fault: 128 + vector, as shells do. */
#define VMMU_KILLED_BASE 128

/* Largest exec argument list: count and total bytes of the strings. */
#define VMMU_ARGV_MAX 64
#define VMMU_ARGS_BYTES 2048

#endif
