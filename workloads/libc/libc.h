/* The guest libc: what a vmmu user program can call. Freestanding: no floating point, no
 * files, no signals; console output, memory and processes through the kernel's system calls
 * (vmmu/syscalls.h). */
#ifndef VMMU_LIBC_H
#define VMMU_LIBC_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

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

/* ---- Memory and strings (string.c) ---- */
void* memset(void* d, int c, size_t n);
void* memcpy(void* d, const void* s, size_t n);
void* memmove(void* d, const void* s, size_t n);
int memcmp(const void* a, const void* b, size_t n);
size_t strlen(const char* s);
int strcmp(const char* a, const char* b);
int strncmp(const char* a, const char* b, size_t n);
char* strchr(const char* s, int c);

/* ---- Formatted output (format.c, print.c): %d %i %u %x %p %s %c %%, flags - 0, width,
 * length l ll z ---- */
int vformat(char* buf, size_t size, const char* fmt, va_list ap);
int snprintf(char* buf, size_t size, const char* fmt, ...);
int printf(const char* fmt, ...);

/* ---- Allocation (malloc.c): size classes over brk, large blocks straight from mmap ---- */
void* malloc(size_t n);
void* calloc(size_t count, size_t size);
void free(void* p);

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
