/* Dense matrix multiply in double: C = A x B for n x n matrices, in i-k-j order or tiled in
 * `block` x `block` tiles (block=0: untiled). B is read a row at a time in i-k-j order, so the
 * pages in use are the three matrices' current rows; a large n without tiling sweeps all of B
 * for every row of C. The same source builds for the guest (`vmmu cc`) and for the host (`cc`);
 * both print the same lines, digit for digit (the sums are done in the same order, and the
 * guest's printf formats doubles exactly as glibc's does).
 *
 *   vmmu cc workloads/examples/matmul.c -O2 -o matmul.elf
 *   vmmu run --program matmul.elf --args "n=256 block=32"
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __vmmu__ /* defined by vmmu cc: mark the measured part as a region of interest */
#include <libc.h> /* vmmu's own calls: roi_begin, roi_end, report */
#define ROI_BEGIN(name) roi_begin(name)
#define ROI_END() roi_end()
#else
#define ROI_BEGIN(name)
#define ROI_END()
#endif

/* "key=value" arguments, as vmmu's built-in workloads take them; exits 2 on anything else. */
static unsigned long arg(int argc, char **argv, const char *key, unsigned long def) {
    size_t n = strlen(key);
    for (int i = 1; i < argc; ++i) {
        if (strncmp(argv[i], key, n) != 0 || argv[i][n] != '=')
            continue;
        char *end;
        def = strtoul(argv[i] + n + 1, &end, 10);
        if (end == argv[i] + n + 1 || *end) {
            printf("matmul: bad value in '%s': expected an unsigned number\n", argv[i]);
            exit(2);
        }
    }
    return def;
}

static void check_args(int argc, char **argv) {
    static const char *const known[] = {"n", "block", 0};
    for (int i = 1; i < argc; ++i) {
        int ok = 0;
        for (const char *const *k = known; *k; ++k) {
            size_t n = strlen(*k);
            ok |= strncmp(argv[i], *k, n) == 0 && argv[i][n] == '=';
        }
        if (!ok) {
            printf("matmul: unknown argument '%s'; parameters: n block\n", argv[i]);
            exit(2);
        }
    }
}

int main(int argc, char **argv) {
    check_args(argc, argv);
    size_t n = arg(argc, argv, "n", 96);
    size_t block = arg(argc, argv, "block", 0);
    if (n == 0 || n > 4096) {
        printf("matmul: n must be 1 to 4096\n");
        return 2;
    }
    size_t bs = block ? block : n;
    double *a = malloc(n * n * sizeof *a), *b = malloc(n * n * sizeof *b);
    double *c = calloc(n * n, sizeof *c);
    if (!a || !b || !c) {
        printf("matmul: out of memory for n=%zu\n", n);
        return 1;
    }
    for (size_t i = 0; i < n; ++i)
        for (size_t j = 0; j < n; ++j) {
            a[i * n + j] = (double)((i * 7 + j * 3) % 17) / 8.0 - 1.0;
            b[i * n + j] = 1.0 / (double)(i + 2 * j + 1);
        }
    printf("matmul: n=%zu, block=%zu, %.1f MiB of matrices\n", n, block,
           3.0 * (double)(n * n * sizeof(double)) / (1024.0 * 1024.0));

    ROI_BEGIN("multiply");
    for (size_t ii = 0; ii < n; ii += bs)
        for (size_t kk = 0; kk < n; kk += bs)
            for (size_t jj = 0; jj < n; jj += bs)
                for (size_t i = ii; i < ii + bs && i < n; ++i)
                    for (size_t k = kk; k < kk + bs && k < n; ++k) {
                        double aik = a[i * n + k];
                        for (size_t j = jj; j < jj + bs && j < n; ++j)
                            c[i * n + j] += aik * b[k * n + j];
                    }
    ROI_END();

    double trace = 0, sum = 0, largest = 0;
    for (size_t i = 0; i < n; ++i) {
        trace += c[i * n + i];
        for (size_t j = 0; j < n; ++j) {
            sum += c[i * n + j];
            double m = c[i * n + j] < 0 ? -c[i * n + j] : c[i * n + j];
            if (m > largest)
                largest = m;
        }
    }
    printf("matmul: trace %.10f, sum %.6e, largest |c| %g\n", trace, sum, largest);
    printf("matmul: c[0][0] = %.17g, c[n-1][n-1] = %a\n", c[0], c[n * n - 1]);
    /* The last row again, untiled: tiling changes which k comes first only across tiles, so
     * compare with a tolerance of a few ulps of the row's magnitude. */
    int ok = 1;
    for (size_t j = 0; j < n; ++j) {
        double r = 0;
        for (size_t k = 0; k < n; ++k)
            r += a[(n - 1) * n + k] * b[k * n + j];
        double d = r - c[(n - 1) * n + j];
        if (d < 0)
            d = -d;
        if (d > 1e-9 * (largest + 1))
            ok = 0;
    }
    printf("matmul: %s\n", ok ? "ok" : "FAILED (the last row differs from an untiled product)");
    free(a);
    free(b);
    free(c);
    return ok ? 0 : 1;
}
