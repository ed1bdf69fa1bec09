/* Hash-table build and probe: `n` random 64-bit keys inserted into an open-addressing table
 * (linear probing, a power-of-two capacity at most half full), then `probes` lookups, half of
 * keys that are there and half of keys that are not. Random probes into a table larger than the
 * TLB's reach: a database hash join's probe phase. The same source builds for the guest
 * (`vmmu cc`) and for the host (`cc`); both print the same lines.
 *
 *   vmmu cc workloads/examples/hashtable.c -O2 -o hashtable.elf
 *   vmmu run --program hashtable.elf --args "n=200000 probes=400000"
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
        printf("hashtable: bad value in '%s': expected an unsigned number\n", argv[i]);
        exit(2);
    }
    return def;
}

static void check_args(int argc, char **argv) {
    static const char *const known[] = {"n", "probes", "seed", 0};
    for (int i = 1; i < argc; ++i) {
        int ok = 0;
        for (const char *const *k = known; *k; ++k) {
            size_t n = strlen(*k);
            ok |= strncmp(argv[i], *k, n) == 0 && argv[i][n] == '=';
        }
        if (!ok) {
            printf("hashtable: unknown argument '%s'; parameters: n probes seed\n", argv[i]);
            exit(2);
        }
    }
}

static uint64_t next_random(uint64_t *state) { /* SplitMix64 */
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

struct slot {
    uint64_t key; /* 0: empty (keys are made non-zero) */
    uint64_t value;
};

static uint64_t hash(uint64_t k) { /* Murmur3's 64-bit finaliser */
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    return k ^ (k >> 33);
}

int main(int argc, char **argv) {
    check_args(argc, argv);
    uint64_t n = arg(argc, argv, "n", 100000);
    uint64_t probes = arg(argc, argv, "probes", 200000);
    uint64_t seed = arg(argc, argv, "seed", 7);
    if (n == 0 || n > (1ULL << 26)) {
        printf("hashtable: n must be 1 to %llu\n", 1ULL << 26);
        return 2;
    }
    uint64_t cap = 1;
    while (cap < 2 * n)
        cap <<= 1;
    struct slot *table = calloc(cap, sizeof *table);
    if (!table) {
        printf("hashtable: out of memory for %llu slots\n", (unsigned long long)cap);
        return 1;
    }
    printf("hashtable: %llu keys in %llu slots (%llu KiB), %llu probes\n", (unsigned long long)n,
           (unsigned long long)cap, (unsigned long long)(cap * sizeof *table >> 10),
           (unsigned long long)probes);

    uint64_t rng = seed, inserted = 0, longest = 0;
    ROI_BEGIN("build");
    for (uint64_t i = 0; i < n; ++i) {
        uint64_t key = next_random(&rng) | 1;
        uint64_t at = hash(key) & (cap - 1), dist = 0;
        while (table[at].key != 0 && table[at].key != key) {
            at = (at + 1) & (cap - 1);
            ++dist;
        }
        if (table[at].key == 0)
            ++inserted;
        table[at].key = key;
        table[at].value = i;
        if (dist > longest)
            longest = dist;
    }
    ROI_END();

    /* Probe keys: even probes replay the insert stream (hits), odd ones are even numbers, which
     * no inserted key is (misses). */
    uint64_t replay = seed, other = seed ^ 0x5bd1e995ULL, hits = 0, misses = 0, sum = 0;
    ROI_BEGIN("probe");
    for (uint64_t p = 0; p < probes; ++p) {
        uint64_t key = p % 2 == 0 ? next_random(&replay) | 1 : next_random(&other) & ~1ULL;
        if (p % 2 == 0 && p / 2 + 1 >= n)
            replay = seed; /* wrap around the inserted keys */
        uint64_t at = hash(key) & (cap - 1);
        while (table[at].key != 0 && table[at].key != key)
            at = (at + 1) & (cap - 1);
        if (table[at].key == key && key != 0) {
            ++hits;
            sum += table[at].value;
        } else {
            ++misses;
        }
    }
    ROI_END();
    printf("hashtable: %llu inserted, longest probe %llu, %llu hits, %llu misses, value sum %llu\n",
           (unsigned long long)inserted, (unsigned long long)longest, (unsigned long long)hits,
           (unsigned long long)misses, (unsigned long long)sum);
    int ok = hits == (probes + 1) / 2 && misses == probes / 2;
    printf("hashtable: %s\n", ok ? "ok" : "FAILED (a key that was inserted was not found)");
    free(table);
    return ok ? 0 : 1;
}
