/* Memory and string functions. Also compiled into the kernel (workloads/kernel/CMakeLists.txt).
 * Loops are written out; the attribute keeps the compiler from turning them back into calls
 * to these very functions. */
#include "libc.h"

#define PLAIN_LOOPS __attribute__((optimize("no-tree-loop-distribute-patterns")))

PLAIN_LOOPS void *memset(void *d, int c, size_t n) {
    unsigned char *p = d;
    /* Word stores when aligned: one memory access per 8 bytes instead of 8. */
    if ((((uintptr_t)p | n) & 7) == 0) {
        uint64_t v = (unsigned char)c * 0x0101010101010101ULL;
        for (size_t i = 0; i < n / 8; ++i)
            ((uint64_t *)p)[i] = v;
        return d;
    }
    for (size_t i = 0; i < n; ++i)
        p[i] = (unsigned char)c;
    return d;
}

PLAIN_LOOPS void *memcpy(void *d, const void *s, size_t n) {
    unsigned char *dp = d;
    const unsigned char *sp = s;
    if ((((uintptr_t)dp | (uintptr_t)sp | n) & 7) == 0) {
        for (size_t i = 0; i < n / 8; ++i)
            ((uint64_t *)dp)[i] = ((const uint64_t *)sp)[i];
        return d;
    }
    for (size_t i = 0; i < n; ++i)
        dp[i] = sp[i];
    return d;
}

PLAIN_LOOPS void *memmove(void *d, const void *s, size_t n) {
    unsigned char *dp = d;
    const unsigned char *sp = s;
    if (dp <= sp || dp >= sp + n)
        return memcpy(d, s, n);
    for (size_t i = n; i > 0; --i)
        dp[i - 1] = sp[i - 1];
    return d;
}

int memcmp(const void *a, const void *b, size_t n) {
    const unsigned char *x = a, *y = b;
    for (size_t i = 0; i < n; ++i)
        if (x[i] != y[i])
            return x[i] < y[i] ? -1 : 1;
    return 0;
}

size_t strlen(const char *s) {
    size_t n = 0;
    while (s[n])
        ++n;
    return n;
}

int strcmp(const char *a, const char *b) {
    while (*a && *a == *b)
        ++a, ++b;
    return (unsigned char)*a - (unsigned char)*b;
}

int strncmp(const char *a, const char *b, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        if (a[i] != b[i])
            return (unsigned char)a[i] - (unsigned char)b[i];
        if (!a[i])
            return 0;
    }
    return 0;
}

char *strchr(const char *s, int c) {
    for (;; ++s) {
        if (*s == (char)c)
            return (char *)s;
        if (!*s)
            return 0;
    }
}

/* ---- The rest of <string.h> (libc only: the kernel needs none of it) ---- */
#ifndef VMMU_KERNEL
void *memchr(const void *s, int c, size_t n) {
    const unsigned char *p = s;
    for (size_t i = 0; i < n; ++i)
        if (p[i] == (unsigned char)c)
            return (void *)(p + i);
    return 0;
}

size_t strnlen(const char *s, size_t max) {
    size_t n = 0;
    while (n < max && s[n])
        ++n;
    return n;
}

int strcoll(const char *a, const char *b) { return strcmp(a, b); }

char *strrchr(const char *s, int c) {
    const char *last = 0;
    for (;; ++s) {
        if (*s == (char)c)
            last = s;
        if (!*s)
            return (char *)last;
    }
}

char *strstr(const char *hay, const char *needle) {
    size_t n = strlen(needle);
    for (; *hay; ++hay)
        if (!strncmp(hay, needle, n))
            return (char *)hay;
    return n ? 0 : (char *)hay;
}

PLAIN_LOOPS char *strcpy(char *d, const char *s) {
    char *r = d;
    while ((*d++ = *s++))
        ;
    return r;
}

PLAIN_LOOPS char *strncpy(char *d, const char *s, size_t n) {
    size_t i = 0;
    for (; i < n && s[i]; ++i)
        d[i] = s[i];
    for (; i < n; ++i)
        d[i] = 0;
    return d;
}

char *strcat(char *d, const char *s) {
    strcpy(d + strlen(d), s);
    return d;
}

char *strncat(char *d, const char *s, size_t n) {
    char *e = d + strlen(d);
    size_t i = 0;
    for (; i < n && s[i]; ++i)
        e[i] = s[i];
    e[i] = 0;
    return d;
}

size_t strspn(const char *s, const char *accept) {
    size_t n = 0;
    while (s[n] && strchr(accept, s[n]))
        ++n;
    return n;
}

size_t strcspn(const char *s, const char *reject) {
    size_t n = 0;
    while (s[n] && !strchr(reject, s[n]))
        ++n;
    return n;
}

char *strpbrk(const char *s, const char *accept) {
    s += strcspn(s, accept);
    return *s ? (char *)s : 0;
}

char *strtok(char *s, const char *delim) {
    static char *next;
    if (!s)
        s = next;
    if (!s)
        return 0;
    s += strspn(s, delim);
    if (!*s) {
        next = 0;
        return 0;
    }
    char *end = s + strcspn(s, delim);
    if (*end)
        *end++ = 0;
    else
        end = 0;
    next = end;
    return s;
}

char *strndup(const char *s, size_t n) {
    size_t len = strnlen(s, n);
    char *d = malloc(len + 1);
    if (d) {
        memcpy(d, s, len);
        d[len] = 0;
    }
    return d;
}

char *strdup(const char *s) { return strndup(s, (size_t)-1); }

/* glibc's messages for the errors this libc sets. */
char *strerror(int err) {
    switch (err) {
    case 0: return "Success";
    case EPERM: return "Operation not permitted";
    case ENOENT: return "No such file or directory";
    case ESRCH: return "No such process";
    case EINTR: return "Interrupted system call";
    case EIO: return "Input/output error";
    case E2BIG: return "Argument list too long";
    case ENOEXEC: return "Exec format error";
    case EBADF: return "Bad file descriptor";
    case ECHILD: return "No child processes";
    case EAGAIN: return "Resource temporarily unavailable";
    case ENOMEM: return "Cannot allocate memory";
    case EACCES: return "Permission denied";
    case EFAULT: return "Bad address";
    case EEXIST: return "File exists";
    case EINVAL: return "Invalid argument";
    case ENOSPC: return "No space left on device";
    case EDOM: return "Numerical argument out of domain";
    case ERANGE: return "Numerical result out of range";
    case ENOSYS: return "Function not implemented";
    default: {
        static char buf[32];
        snprintf(buf, sizeof buf, "Unknown error %d", err);
        return buf;
    }
    }
}
#endif
