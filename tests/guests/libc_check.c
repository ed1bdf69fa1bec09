/* The guest libc against glibc: a standard C program whose every output line must be
 * byte-identical when built for the guest and for the host (tests/fpu_test.cpp compares them).
 * printf's conversions over edge cases and pseudo-random doubles (bit patterns, decimals,
 * powers of two), strtod round trips, the integer conversions, qsort and bsearch, rand, and the
 * math functions that are exact (sqrt, floor, ceil, trunc, round, fmod, ldexp, frexp, modf). */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t state = 88172645463325252ull;
static uint64_t next(void) { /* xorshift64 (Marsaglia 2003) */
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

static double value(int i) {
    static const double special[] = {0.0, -0.0, 1.0, -1.0, 0.5, 1.5, 2.5, 0.125, 0.25, 0.35,
                                     0.05, 1e308, 1.7976931348623157e308,
                                     2.2250738585072014e-308, 4.9406564584124654e-324,
                                     2.225073858507201e-308, 1e-300, 123456789.0, 9.5, 0.95,
                                     0.995, 99.5, 999.5, 999999.5, 9999995.0, 1e21, 1e22, 1e23,
                                     3.14159265358979, 1.0 / 3, 2.0 / 3, 1e15, 1e16, 1e17, 0.1,
                                     0.2, 0.3, 100.0, 1e-5, 1e-4, 9.9999e-5, 123456.5, 99.95};
    int n = (int)(sizeof special / sizeof *special);
    if (i < n)
        return special[i];
    if (i == n)
        return INFINITY;
    if (i == n + 1)
        return -INFINITY;
    if (i == n + 2)
        return NAN;
    if (i == n + 3)
        return -NAN;
    double v;
    uint64_t u = next();
    switch (i % 3) {
    case 0: memcpy(&v, &u, sizeof v); break;
    case 1: v = (double)(int64_t)(u % 2000000) / 1000.0 * ((u >> 40) & 1 ? 1 : -1); break;
    default: v = ldexp((double)(u >> 11), (int)(next() % 200) - 150);
    }
    return v;
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

struct rec {
    int key, order;
};
static int cmp_rec(const void *a, const void *b) {
    return ((const struct rec *)a)->key - ((const struct rec *)b)->key;
}

int main(int argc, char **argv) {
    long values = argc > 1 ? strtol(argv[1], 0, 10) : 300;
    static const char *const fmts[] = {
        "%f",  "%e",     "%g",     "%.0f",   "%.1f",   "%.2f",      "%.3e",   "%.0e",
        "%.10g", "%.17g", "%.20f", "%#.0f",  "%#g",    "%+.3f",     "% .5e",  "%12.4f",
        "%-12.3e|", "%012.3f", "%G", "%E",   "%.30e",  "%.0g",      "%#.3g",  "%a",
        "%.3a", "%A",    "%.1g",   "%.15g",  "%.16g",  "%10.3g",    "%-+10.2f|"};
    int nf = (int)(sizeof fmts / sizeof *fmts);
    char buf[2048];
    for (int i = 0; i < values; ++i) {
        double v = value(i);
        for (int f = 0; f < nf; ++f) {
            int n = snprintf(buf, sizeof buf, fmts[f], v);
            printf("%s=%s (%d)\n", fmts[f], buf, n);
        }
        if (!isnan(v)) { /* the shortest exact round trip glibc's %.17g allows */
            snprintf(buf, sizeof buf, "%.17g", v);
            char *end;
            double back = strtod(buf, &end);
            printf("strtod(%s)=%a end=%d same=%d\n", buf, back, (int)(end - buf),
                   memcmp(&back, &v, sizeof v) == 0);
        }
        printf("sqrt=%a floor=%a ceil=%a trunc=%a round=%a fmod=%a\n", sqrt(fabs(v)), floor(v),
               ceil(v), trunc(v), round(v), fmod(v, 0.7));
        int e;
        double ip, m = frexp(v, &e), frac = isinf(v) ? 0 : modf(v, &ip);
        printf("frexp=%a,%d modf=%a ldexp=%a\n", m, isfinite(v) ? e : 0, frac, ldexp(v, -3));
    }
    /* decimal strings to double: random digits and exponents, near-halfway cases */
    for (int i = 0; i < values; ++i) {
        snprintf(buf, sizeof buf, "%" PRIu64 ".%" PRIu64 "e%d", (uint64_t)(next() % 100000000000ull),
                 (uint64_t)(next() % 10000000000ull), (int)(next() % 700) - 350);
        errno = 0;
        double d = strtod(buf, 0);
        printf("%s -> %a %.17g errno=%d\n", buf, d, d, errno);
    }
    static const char *const strs[] = {
        "2.4703282292062327e-324", "2.4703282292062328e-324", "1e-400", "1e400", "0x1.8p3",
        "  -inf", "infinity", "1.7976931348623158e308", "1.7976931348623159e308",
        "9007199254740993", "9007199254740992.5", ".5", "5.", "1e", "-0", "0x1p-1074",
        "0x1p-1075", "0x1.0000000000001p-1075", "2.2250738585072011e-308",
        "1234567890123456789012345678901234567890e-20", "  +12abc", "0x", "nan"};
    for (size_t i = 0; i < sizeof strs / sizeof *strs; ++i) {
        char *end;
        errno = 0;
        double d = strtod(strs[i], &end);
        printf("strtod('%s') = %a, %d consumed, errno %d\n", strs[i], d, (int)(end - strs[i]),
               errno);
    }
    /* integers: every length modifier and flag */
    long long big = LLONG_MIN;
    printf("[%d] [%5d] [%-5d] [%05d] [%+d] [% d] [%.3d] [%8.3d] [%-8.3d|]\n", -42, 42, 42, -42,
           42, 42, 7, -7, 7);
    printf("[%hhd] [%hhu] [%hd] [%hu] [%ld] [%lu] [%lld] [%llu]\n", 300, 300, 70000, 70000,
           LONG_MIN, ULONG_MAX, big, ULLONG_MAX);
    printf("[%zu] [%zd] [%jd] [%ju] [%td] [%o] [%#o] [%x] [%#x] [%#X] [%#.0o] [%.0d]\n",
           (size_t)123, (ptrdiff_t)-5, (intmax_t)-9, (uintmax_t)9, (ptrdiff_t)-77, 8, 8, 255,
           255, 255, 0, 0);
    printf("[%s] [%10s] [%-10s|] [%.2s] [%c] [%5c] [%%] [%*d] [%-*d|] [%.*f]\n", "abc", "abc",
           "abc", "abc", 'x', 'y', 6, 3, 6, 3, 2, 3.14159);
    printf("[%p] [%" PRId64 "] [%" PRIx64 "]\n", (void *)0, INT64_MIN, UINT64_MAX);
    static const char *const ints[] = {"  123", "-123", "+0x1F", "0777", "0x", "99999999999999999999",
                                       "-9223372036854775808", "z", "12abc", "  -0"};
    for (size_t i = 0; i < sizeof ints / sizeof *ints; ++i) {
        char *end;
        errno = 0;
        long a = strtol(ints[i], &end, 0);
        int ea = errno;
        errno = 0;
        unsigned long long b = strtoull(ints[i], 0, 16);
        printf("strtol('%s',0)=%ld end=%d errno=%d strtoull16=%llu errno=%d atoi=%d\n", ints[i],
               a, (int)(end - ints[i]), ea, b, errno, atoi(ints[i]));
    }
    /* sorting, searching, random numbers */
    srand(12345);
    int arr[200];
    for (int i = 0; i < 200; ++i)
        arr[i] = rand() % 1000;
    qsort(arr, 200, sizeof *arr, cmp_int);
    for (int i = 0; i < 200; i += 20)
        printf("sorted[%d]=%d\n", i, arr[i]);
    int key = arr[77];
    int *hit = bsearch(&key, arr, 200, sizeof *arr, cmp_int);
    printf("bsearch %d found %d\n", key, hit && *hit == key);
    struct rec recs[50];
    for (int i = 0; i < 50; ++i)
        recs[i] = (struct rec){rand() % 5, i};
    qsort(recs, 50, sizeof *recs, cmp_rec); /* stable, as glibc's merge sort */
    for (int i = 0; i < 50; ++i)
        printf("%d:%d%c", recs[i].key, recs[i].order, i % 10 == 9 ? '\n' : ' ');
    srand(1);
    printf("rand: %d %d %d; RAND_MAX %d\n", rand(), rand(), rand(), RAND_MAX);
    /* allocation */
    char *s = malloc(10);
    strcpy(s, "hello");
    s = realloc(s, 100000);
    strcat(s, ", world");
    int *z = calloc(1000, sizeof *z);
    long sum = 0;
    for (int i = 0; i < 1000; ++i)
        sum += z[i];
    printf("%s %zu %ld %s %s\n", s, strlen(s), sum, strstr(s, "wor"), strrchr(s, 'l'));
    free(s);
    free(z);
    printf("ctype: %d %d %d %c %c\n", isdigit('5') != 0, isspace('\t') != 0, isalpha('_') != 0,
           toupper('q'), tolower('Q'));
    assert(sum == 0);
    bool ok = true;
    printf("done %d\n", ok);
    return 0;
}
