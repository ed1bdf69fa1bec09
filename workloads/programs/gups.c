/* gups: random read-modify-write updates over a table (HPCC RandomAccess, Luszczek et al.,
 * "The HPC Challenge benchmark", 2006): table[r & (n-1)] ^= r over the benchmark's own
 * pseudo-random stream. Nearly every update touches a new page: a TLB stress test.
 * Verified as HPCC does: applying the same updates again restores table[i] == i. */
#include "libc.h"

/* HPCC's generator: a shift register over the primitive polynomial x^63 + x^2 + x + 1. */
#define POLY 0x0000000000000007ULL
static uint64_t next_random(uint64_t r) { return (r << 1) ^ ((int64_t)r < 0 ? POLY : 0); }

/* Applies the update stream; returns a digest of the values each update found. */
static uint64_t update(uint64_t *table, uint64_t mask, uint64_t updates) {
    uint64_t r = 0x2545f4914f6cdd1dULL; /* any nonzero start */
    uint64_t digest = 0;
    for (uint64_t i = 0; i < updates; ++i) {
        r = next_random(r);
        uint64_t old = table[r & mask];
        digest = digest * 0x100000001b3ULL + old;
        table[r & mask] = old ^ r;
    }
    return digest;
}

int main(int argc, char **argv) {
    args_check(argc, argv, (const char *const[]){"table_mib", "updates", 0});
    uint64_t table_mib = arg_u64(argc, argv, "table_mib", 64);
    uint64_t updates = arg_u64(argc, argv, "updates", 1000000);
    if (table_mib == 0 || (table_mib & (table_mib - 1))) {
        printf("gups: table_mib must be a power of two (HPCC tables are 2^k words)\n");
        return 2;
    }
    uint64_t words = table_mib << 17; /* MiB / 8 bytes */
    uint64_t *table = malloc(words * 8);
    if (!table) {
        printf("gups: cannot allocate %lu MiB\n", table_mib);
        return 1;
    }
    for (uint64_t i = 0; i < words; ++i)
        table[i] = i;
    /* The steady state: the updates, after the table's first touch (demand-zero faults). */
    roi_begin("updates");
    update(table, words - 1, updates);
    roi_end();
    /* The undo pass sees the table as the updates left it: its digest is the checksum. */
    uint64_t sum = update(table, words - 1, updates);
    uint64_t errors = 0;
    for (uint64_t i = 0; i < words; ++i)
        errors += table[i] != i;
    free(table);
    report("gups.errors", errors);
    return finish("gups", sum, errors == 0);
}
