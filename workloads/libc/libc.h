/* The guest libc's own interface: the vmmu calls a program may use beside the standard C ones
 * (include/: stdio.h, stdlib.h, string.h, math.h, ...; docs/PROGRAMS.md lists what exists). No
 * files, no signals; console output, memory and processes through the kernel's system calls
 * (vmmu/syscalls.h). */
#ifndef VMMU_LIBC_H
#define VMMU_LIBC_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmmu/syscalls.h"

/* ---- System calls (syscall.c) ---- */
void exit(int status) __attribute__((noreturn));
int fork(void);
int exec(const char* name, char* const argv[]); /* returns only on failure (-errno) */
int wait(int* status);                          /* pid of a reaped child, or -errno */
int getpid(void);
void yield(void);
void sleep(uint64_t ticks);
void* sbrk(intptr_t increment);         /* (void *)-1 on failure */
void* mmap_anon(size_t len, int flags); /* VMMU_MAP_* flags; (void *)-1 on failure */
int munmap(void* addr, size_t len);
long write(int fd, const void* buf, size_t len);
int report(const char* key, uint64_t value); /* a named result the engine records */
void shutdown(int status) __attribute__((noreturn));
uint64_t uptime(void); /* timer ticks since boot */
/* The guest's monotonic clock: guest instructions retired since boot (exact, deterministic). */
uint64_t vmmu_instructions(void);

/* ---- Threads (thread.c, clone.S): threads share the address space; each runs fn(arg) on its
 * own 64 KiB stack and exits with fn's return value. thread_join waits for a thread this one
 * created and returns its id (or -errno), its status in *status. malloc/free are safe in
 * threads (one lock). ---- */
int thread_create(int (*fn)(void *), void *arg); /* thread id, or -errno */
int thread_join(int tid, int *status);
int ncpus(void); /* CPUs the kernel runs on */
/* A user-level spinlock: xchg, pause, and a yield after 64 spins. Zero-initialised = free. */
struct user_lock {
    volatile uint32_t locked;
};
void user_lock(struct user_lock *l);
void user_unlock(struct user_lock *l);

/* ---- Regions of interest (roi.c): the engine reports the counters between the two markers as
 * a window named `name` (summed over repeats). Regions nest one level at most; every region
 * must be closed before the run ends. ---- */
void roi_begin(const char* name);
void roi_end(void);
extern const char* vmmu_program_name; /* argv[0], set before main */

/* ---- Formatting into a buffer: the printf engine (format.c) ---- */
int vformat(char* buf, size_t size, const char* fmt, va_list ap);

/* ---- Program helpers (args.c) ---- */
/* The value of "key=value" among argv[1..], or def; exits with status 2 on a malformed value. */
uint64_t arg_u64(int argc, char** argv, const char* key, uint64_t def);
/* Exits with status 2 naming any argument that is not key=value with a key in `known`
 * (a NULL-terminated list), so a misspelt parameter fails loudly instead of being ignored. */
void args_check(int argc, char** argv, const char* const* known);
/* A deterministic 64-bit pseudo-random stream (SplitMix64, Steele et al., OOPSLA 2014). */
uint64_t rand64(uint64_t* state);
/* Reports "<prog>.checksum" and "<prog>.ok" and returns the exit status: 0 if ok. */
int finish(const char* prog, uint64_t checksum, int ok);

#endif
