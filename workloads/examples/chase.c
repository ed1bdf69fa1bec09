/* Pointer chase: nodes `stride` bytes apart in a `footprint_kib` KiB buffer, linked into one
 * random cycle (Sattolo's algorithm), followed for `steps` dependent loads. With a stride of a
 * page or more every step is a new page: a TLB-miss and page-walk microbenchmark. The same
 * source builds for the guest (`vmmu cc`) and for the host (`cc`); both print the same lines.
 *
 *   vmmu cc workloads/examples/chase.c -O2 -o chase.elf
 *   vmmu run --program chase.elf --args "footprint_kib=8192 stride=4096 steps=200000"
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
static uint64_t arg(int argc, char **argv, const char *key, uint64_t def) {
    size_t n = strlen(key);
    for (int i = 1; i < argc; ++i) {
        if (strncmp(argv[i], key, n) != 0 || argv[i][n] != '=')
            continue;
        const char *v = argv[i] + n + 1;
        uint64_t x = 0;
        if (!*v)
            goto bad;
        for (; *v; ++v) {
            if (*v < '0' || *v > '9')
                goto bad;
            x = x * 10 + (uint64_t)(*v - '0');
        }
        def = x;
        continue;
    bad:
        printf("chase: bad value in '%s': expected an unsigned number\n", argv[i]);
        exit(2);
    }
    return def;
}

static void check_args(int argc, char **argv) {
    static const char *const known[] = {"footprint_kib", "stride", "steps", "seed", 0};
    for (int i = 1; i < argc; ++i) {
        int ok = 0;
        for (const char *const *k = known; *k; ++k) {
            size_t n = strlen(*k);
            ok |= strncmp(argv[i], *k, n) == 0 && argv[i][n] == '=';
        }
        if (!ok) {
            printf("chase: unknown argument '%s'; parameters: footprint_kib stride steps seed\n",
                   argv[i]);
            exit(2);
        }
    }
}

/* SplitMix64 (Steele et al., OOPSLA 2014): the same stream on every machine. */
static uint64_t next_random(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

int main(int argc, char **argv) {
    check_args(argc, argv);
    uint64_t footprint = arg(argc, argv, "footprint_kib", 4096) * 1024;
    uint64_t stride = arg(argc, argv, "stride", 4096);
    uint64_t steps = arg(argc, argv, "steps", 100000);
    uint64_t seed = arg(argc, argv, "seed", 1);
    if (stride < sizeof(void *) || stride % sizeof(void *) != 0 || footprint < 2 * stride) {
        printf("chase: need stride >= 8, a multiple of 8, and footprint_kib*1024 >= 2*stride\n");
        return 2;
    }
    uint64_t nodes = footprint / stride;
    char *buf = malloc(footprint);
    uint64_t *order = malloc(nodes * sizeof *order);
    if (!buf || !order) {
        printf("chase: out of memory for %llu KiB\n", (unsigned long long)(footprint >> 10));
        return 1;
    }
    /* Sattolo: a random permutation that is one cycle through every node. */
    for (uint64_t i = 0; i < nodes; ++i)
        order[i] = i;
    uint64_t rng = seed;
    for (uint64_t i = nodes - 1; i > 0; --i) {
        uint64_t j = next_random(&rng) % i;
        uint64_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (uint64_t i = 0; i < nodes; ++i)
        *(char **)(buf + order[i] * stride) = buf + order[(i + 1) % nodes] * stride;
    free(order);

    printf("chase: %llu nodes, stride %llu bytes, footprint %llu KiB, %llu steps\n",
           (unsigned long long)nodes, (unsigned long long)stride,
           (unsigned long long)(footprint >> 10), (unsigned long long)steps);
    ROI_BEGIN("chase");
    char *p = buf;
    uint64_t sum = 0;
    for (uint64_t s = 0; s < steps; ++s) {
        p = *(char **)p;
        sum += (uint64_t)(p - buf) / stride;
    }
    ROI_END();
    /* Every node once per lap: after a whole number of laps the walk is back at the start. */
    uint64_t at = (uint64_t)(p - buf) / stride;
    printf("chase: ended at node %llu, index sum %llu\n", (unsigned long long)at,
           (unsigned long long)sum);
    int ok = steps % nodes != 0 || at == 0;
    printf("chase: %s\n", ok ? "ok" : "FAILED (a whole number of laps did not end at the start)");
    free(buf);
    return ok ? 0 : 1;
}
