/* stream: the four STREAM kernels (McCalpin, "Memory bandwidth and machine balance", 1995)
 * over three arrays, in 64-bit integer arithmetic (written before user programs had floating
 * point; kept in integers so that its counts and checksums stay comparable across versions):
 *   copy c = a;  scale b = q*c;  add c = a + b;  triad a = b + q*c.
 * Sequential access: few TLB misses per byte, the opposite of gups. Every element of an
 * array holds the same value, so the expected values follow from replaying the kernels on
 * one scalar each, and every element is checked. */
#include "libc.h"

#define Q 3

int main(int argc, char **argv) {
    args_check(argc, argv, (const char *const[]){"array_mib", "iterations", 0});
    uint64_t array_mib = arg_u64(argc, argv, "array_mib", 4);
    uint64_t iterations = arg_u64(argc, argv, "iterations", 5);
    uint64_t n = array_mib << 17;
    uint64_t *a = malloc(n * 8), *b = malloc(n * 8), *c = malloc(n * 8);
    if (!a || !b || !c || n == 0) {
        printf("stream: cannot allocate 3 x %lu MiB\n", array_mib);
        return 1;
    }
    for (uint64_t j = 0; j < n; ++j) {
        a[j] = 1;
        b[j] = 2;
        c[j] = 0;
    }
    uint64_t ea = 1, eb = 2, ec = 0;
    /* The steady state: the four kernels, after the arrays' first touch. */
    roi_begin("kernels");
    for (uint64_t k = 0; k < iterations; ++k) {
        for (uint64_t j = 0; j < n; ++j)
            c[j] = a[j];
        for (uint64_t j = 0; j < n; ++j)
            b[j] = Q * c[j];
        for (uint64_t j = 0; j < n; ++j)
            c[j] = a[j] + b[j];
        for (uint64_t j = 0; j < n; ++j)
            a[j] = b[j] + Q * c[j];
        ec = ea;
        eb = Q * ec;
        ec = ea + eb;
        ea = eb + Q * ec;
    }
    roi_end();
    uint64_t sum = 0, errors = 0;
    for (uint64_t j = 0; j < n; ++j) {
        errors += (a[j] != ea) + (b[j] != eb) + (c[j] != ec);
        sum += a[j] ^ (b[j] + c[j]);
    }
    free(a);
    free(b);
    free(c);
    report("stream.errors", errors);
    report("stream.bytes_moved", iterations * n * 8 * 10); /* STREAM counts 2+2+3+3 words */
    return finish("stream", sum, errors == 0);
}
