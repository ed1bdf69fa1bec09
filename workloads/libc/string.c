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
