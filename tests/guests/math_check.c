/* exp, log, log2, log10 and pow over pseudo-random arguments, printed as exact hex floats:
 * tests/fpu_test.cpp recomputes each with the host's libm and counts the units in the last
 * place between them. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static uint64_t state = 1234567;
static double urand(void) { /* xorshift64 (Marsaglia 2003), uniform in [0, 1) */
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return (double)(state >> 11) * 0x1p-53;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? strtol(argv[1], 0, 10) : 2000;
    clock_t start = clock();
    for (long i = 0; i < n; ++i) {
        double x = (urand() - 0.5) * 1400;
        double y = exp((urand() - 0.5) * 1400);
        double b = urand() * 100, e = (urand() - 0.5) * 100;
        printf("exp %a %a\n", x, exp(x));
        printf("log %a %a\n", y, log(y));
        printf("log2 %a %a\n", y, log2(y));
        printf("log10 %a %a\n", y, log10(y));
        printf("pow %a %a %a\n", b, e, pow(b, e));
    }
    clock_t end = clock();
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    printf("clock %ld %ld %ld %ld\n", (long)start, (long)end, (long)ts.tv_sec, ts.tv_nsec);
    return 0;
}
