/* Guest libc: wait. The kernel returns a child's exit status as is; a process killed by a fault
 * exits with 128 + vector (docs/PROGRAMS.md), which these macros read as an ordinary exit. */
#ifndef VMMU_SYS_WAIT_H
#define VMMU_SYS_WAIT_H
#include <sys/types.h>
pid_t wait(int *status);
#define WIFEXITED(s) 1
#define WEXITSTATUS(s) ((s) & 0xff)
#define WIFSIGNALED(s) 0
#define WTERMSIG(s) 0
#endif
