/* The guest libc's printf engine and strtod, compiled for the host, against glibc's snprintf and
 * strtod over many values: every conversion byte for byte, every parse bit for bit. The guest
 * files are built with their own headers and renamed symbols (tests/fpu.cmake); this file uses
 * the host's. Exit status 0 when nothing differs; the first differences are printed. */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int vformat(char *buf, size_t size, const char *fmt, va_list ap);
double vmmu_libc_strtod(const char *s, char **end);
int vmmu_libc_errno;

static int guest(char *b, size_t n, const char *f, ...) {
    va_list ap;
    va_start(ap, f);
    int r = vformat(b, n, f, ap);
    va_end(ap);
    return r;
}

static uint64_t state = 88172645463325252ull;
static uint64_t next(void) { /* xorshift64 (Marsaglia 2003) */
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

static long bad, total;
static void report(const char *what, const char *in, const char *host, const char *ours) {
    if (bad++ < 20)
        printf("%s %s: glibc [%s] guest libc [%s]\n", what, in, host, ours);
}

static void check_parse(const char *s) {
    char *e1, *e2;
    double a = strtod(s, &e1), b = vmmu_libc_strtod(s, &e2);
    ++total;
    if (memcmp(&a, &b, sizeof a) || e1 - s != e2 - s) {
        char x[64], y[64];
        snprintf(x, sizeof x, "%a end %d", a, (int)(e1 - s));
        snprintf(y, sizeof y, "%a end %d", b, (int)(e2 - s));
        report("strtod", s, x, y);
    }
}

int main(int argc, char **argv) {
    long values = argc > 1 ? strtol(argv[1], 0, 10) : 30000;
    static const char *const fmts[] = {
        "%f",     "%e",    "%g",      "%.0f",  "%.1f",   "%.2f",  "%.3e",    "%.0e",
        "%.10g",  "%.17g", "%.20f",   "%#.0f", "%#g",    "%+.3f", "% .5e",   "%12.4f",
        "%-12.3e|", "%012.3f", "%G",  "%E",    "%.30e",  "%.0g",  "%#.3g",   "%a",
        "%.3a",   "%A",    "%.1g",    "%.15g", "%.16g",  "%10.3g", "%-+10.2f|", "%.40f"};
    static const double special[] = {0.0, -0.0, 1.0, -1.0, 0.5, 1.5, 2.5, 0.125, 0.25, 0.35, 0.05,
                                     1e308, 1.7976931348623157e308, 2.2250738585072014e-308,
                                     4.9406564584124654e-324, 2.225073858507201e-308, 1e-300,
                                     9.5, 0.95, 0.995, 99.5, 999.5, 999999.5, 9999995.0, 1e21,
                                     1e22, 1e23, 1.0 / 3, 2.0 / 3, 1e15, 1e16, 1e17, 0.1, 0.3,
                                     1e-5, 1e-4, 9.9999e-5, 123456.5, 99.95, INFINITY, -INFINITY,
                                     NAN, -NAN};
    int ns = (int)(sizeof special / sizeof *special), nf = (int)(sizeof fmts / sizeof *fmts);
    char a[4096], b[4096], in[64];
    for (long i = 0; i < ns + values; ++i) {
        double v;
        uint64_t u = next();
        if (i < ns)
            v = special[i];
        else if (i % 3 == 0)
            memcpy(&v, &u, sizeof v);
        else if (i % 3 == 1)
            v = (double)(int64_t)(u % 2000000) / 1000.0 * ((u >> 40) & 1 ? 1 : -1);
        else
            v = ldexp((double)(u >> 11), (int)(next() % 200) - 150);
        for (int f = 0; f < nf; ++f) {
            int n1 = snprintf(a, sizeof a, fmts[f], v), n2 = guest(b, sizeof b, fmts[f], v);
            ++total;
            if (n1 != n2 || strcmp(a, b)) {
                snprintf(in, sizeof in, "%s of %a", fmts[f], v);
                report("printf", in, a, b);
            }
        }
        if (!isnan(v)) {
            snprintf(in, sizeof in, "%.17g", v);
            check_parse(in);
        }
        snprintf(in, sizeof in, "%llu.%llue%d", (unsigned long long)(next() % 100000000000ull),
                 (unsigned long long)(next() % 10000000000ull), (int)(next() % 700) - 350);
        check_parse(in);
    }
    static const char *const strs[] = {
        "2.4703282292062327e-324", "2.4703282292062328e-324", "1e-400", "1e400", "0x1.8p3",
        "  -inf", "nan(123)", "infinity", "1.7976931348623158e308", "1.7976931348623159e308",
        "9007199254740993", "9007199254740992.5", ".5", "5.", ".e3", "1e", "-0", "0x.8p1",
        "0x1p-1074", "0x1p-1075", "0x1.0000000000001p-1075", "2.2250738585072011e-308",
        "1234567890123456789012345678901234567890e-20",
        "0.000000000000000000000000000000000000001e39"};
    for (size_t i = 0; i < sizeof strs / sizeof *strs; ++i)
        check_parse(strs[i]);
    printf("%ld of %ld conversions differ from glibc's\n", bad, total);
    return bad != 0;
}
