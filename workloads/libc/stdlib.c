/* <stdlib.h> beyond memory: program end, integer conversions, sorting, random numbers. */
#include <ctype.h>
#include <limits.h>

#include "libc.h"

/* ---- Program end ---- */
#define ATEXIT_MAX 32
static void (*atexit_fns[ATEXIT_MAX])(void);
static int atexit_count;

int atexit(void (*fn)(void)) {
    if (atexit_count == ATEXIT_MAX)
        return -1;
    atexit_fns[atexit_count++] = fn;
    return 0;
}

void exit(int status) {
    while (atexit_count > 0)
        atexit_fns[--atexit_count]();
    _exit(status);
}

/* No signals: abort ends the process with the status a shell reports for SIGABRT (128 + 6). */
void abort(void) { _exit(134); }

void __assert_fail(const char *expr, const char *file, unsigned line, const char *func) {
    fprintf(stderr, "%s: %s:%u: %s: Assertion `%s' failed.\n",
            vmmu_program_name ? vmmu_program_name : "?", file, line, func, expr);
    abort();
}

char *getenv(const char *name) { return 0; }

int abs(int x) { return x < 0 ? -x : x; }
long labs(long x) { return x < 0 ? -x : x; }
long long llabs(long long x) { return x < 0 ? -x : x; }
div_t div(int a, int b) { return (div_t){a / b, a % b}; }
ldiv_t ldiv(long a, long b) { return (ldiv_t){a / b, a % b}; }
lldiv_t lldiv(long long a, long long b) { return (lldiv_t){a / b, a % b}; }

/* ---- Integer conversions (C11 7.22.1.4): one parser, range checked per type ---- */
static unsigned long long parse_unsigned(const char *s, char **end, int base, int *neg,
                                         int *overflow) {
    const char *p = s;
    while (isspace((unsigned char)*p))
        ++p;
    *neg = 0;
    *overflow = 0;
    if (*p == '+' || *p == '-')
        *neg = *p++ == '-';
    if ((base == 0 || base == 16) && p[0] == '0' && (p[1] == 'x' || p[1] == 'X') &&
        isxdigit((unsigned char)p[2])) {
        p += 2;
        base = 16;
    } else if (base == 0) {
        base = p[0] == '0' ? 8 : 10;
    }
    unsigned long long v = 0;
    const char *digits = p;
    if (base >= 2 && base <= 36) {
        for (;; ++p) {
            int c = (unsigned char)*p, d;
            if (c >= '0' && c <= '9')
                d = c - '0';
            else if (c >= 'a' && c <= 'z')
                d = c - 'a' + 10;
            else if (c >= 'A' && c <= 'Z')
                d = c - 'A' + 10;
            else
                break;
            if (d >= base)
                break;
            if (v > (ULLONG_MAX - (unsigned)d) / (unsigned)base)
                *overflow = 1;
            else
                v = v * (unsigned)base + (unsigned)d;
        }
    }
    if (end)
        *end = (char *)(p == digits ? s : p);
    return v;
}

long long strtoll(const char *s, char **end, int base) {
    int neg, overflow;
    unsigned long long v = parse_unsigned(s, end, base, &neg, &overflow);
    if (overflow || v > (neg ? (unsigned long long)LLONG_MAX + 1 : (unsigned long long)LLONG_MAX)) {
        errno = ERANGE;
        return neg ? LLONG_MIN : LLONG_MAX;
    }
    return neg ? (long long)(0 - v) : (long long)v;
}

unsigned long long strtoull(const char *s, char **end, int base) {
    int neg, overflow;
    unsigned long long v = parse_unsigned(s, end, base, &neg, &overflow);
    if (overflow) {
        errno = ERANGE;
        return ULLONG_MAX;
    }
    return neg ? 0 - v : v;
}

long strtol(const char *s, char **end, int base) { return strtoll(s, end, base); }
unsigned long strtoul(const char *s, char **end, int base) { return strtoull(s, end, base); }
intmax_t strtoimax(const char *s, char **end, int base) { return strtoll(s, end, base); }
uintmax_t strtoumax(const char *s, char **end, int base) { return strtoull(s, end, base); }
int atoi(const char *s) { return (int)strtol(s, 0, 10); }
long atol(const char *s) { return strtol(s, 0, 10); }
long long atoll(const char *s) { return strtoll(s, 0, 10); }

/* ---- Sorting: a stable merge sort, so equal elements keep their order. glibc's qsort (up to
 * 2.36) is a merge sort too whenever it can allocate its buffer, so both give the same order
 * for any comparison function; without memory this falls back to a stable insertion sort. */
static void swap_bytes(char *a, char *b, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        char t = a[i];
        a[i] = b[i];
        b[i] = t;
    }
}

static void merge_sort(char *a, char *tmp, size_t n, size_t size,
                       int (*cmp)(const void *, const void *)) {
    if (n < 2)
        return;
    size_t h = n / 2;
    merge_sort(a, tmp, h, size, cmp);
    merge_sort(a + h * size, tmp, n - h, size, cmp);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        if (cmp(a + j * size, a + i * size) < 0)
            memcpy(tmp + k++ * size, a + j++ * size, size);
        else
            memcpy(tmp + k++ * size, a + i++ * size, size);
    }
    while (i < h)
        memcpy(tmp + k++ * size, a + i++ * size, size);
    /* what is left of the right half is already in place */
    memcpy(a, tmp, k * size);
}

void qsort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *)) {
    if (n < 2 || !size)
        return;
    char *tmp = n * size / size == n ? malloc(n * size) : 0;
    if (tmp) {
        merge_sort(base, tmp, n, size, cmp);
        free(tmp);
        return;
    }
    char *a = base;
    for (size_t i = 1; i < n; ++i)
        for (size_t j = i; j > 0 && cmp(a + (j - 1) * size, a + j * size) > 0; --j)
            swap_bytes(a + (j - 1) * size, a + j * size, size);
}

void *bsearch(const void *key, const void *base, size_t n, size_t size,
              int (*cmp)(const void *, const void *)) {
    const char *lo = base;
    while (n > 0) {
        const char *mid = lo + (n / 2) * size;
        int c = cmp(key, mid);
        if (c == 0)
            return (void *)mid;
        if (c > 0) {
            lo = mid + size;
            n -= n / 2 + 1;
        } else {
            n /= 2;
        }
    }
    return 0;
}

/* ---- rand: glibc's default generator (random_r.c, TYPE_3: an additive feedback generator
 * x[i] = x[i-3] + x[i-31] over 31 words seeded by Park-Miller's minimal standard), so a program
 * draws the same numbers here as on a glibc host for the same seed. ---- */
static int32_t rstate[31];
static int rf = 3, rr = 0, rseeded;

void srand(unsigned seed) {
    int32_t word = (int32_t)(seed ? seed : 1);
    rstate[0] = word;
    for (int i = 1; i < 31; ++i) {
        /* 16807 * word % 2147483647 without overflow (Schrage), exactly as glibc computes it */
        long hi = word / 127773, lo = word % 127773;
        word = (int32_t)(16807 * lo - 2836 * hi);
        if (word < 0)
            word += 2147483647;
        rstate[i] = word;
    }
    rf = 3;
    rr = 0;
    rseeded = 1;
    for (int i = 0; i < 310; ++i)
        rand();
}

int rand(void) {
    if (!rseeded)
        srand(1);
    uint32_t val = (uint32_t)rstate[rf] + (uint32_t)rstate[rr];
    rstate[rf] = (int32_t)val;
    if (++rf >= 31) {
        rf = 0;
        ++rr;
    } else if (++rr >= 31) {
        rr = 0;
    }
    return (int)(val >> 1);
}
