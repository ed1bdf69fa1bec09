/* Guest libc: the POSIX process calls the guest kernel has (no files, no signals). */
#ifndef VMMU_UNISTD_H
#define VMMU_UNISTD_H
#include <stddef.h>
#include <sys/types.h>
pid_t fork(void);
pid_t getpid(void);
ssize_t write(int fd, const void *buf, size_t len);
void _exit(int status) __attribute__((noreturn));
void *sbrk(intptr_t increment);
#endif
