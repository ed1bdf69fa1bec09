/* threads: HPCC RandomAccess (gups.c) by several threads over one shared table. Each thread
 * runs its own update stream (HPCC's generator from its own start) and applies each update
 * with an atomic XOR (`lock xor`): XOR commutes, so the table after the pass is the same
 * whatever the interleaving, the number of CPUs or the scheduler's choices, and so is the
 * checksum (a digest of that table). Verified as HPCC does: a second pass of the same streams
 * restores table[i] == i. The threads share one address space: on several CPUs its TLB
 * entries live on each of them. */
#include "libc.h"

#define POLY 0x0000000000000007ULL
#define MAX_WORKERS 32
static uint64_t next_random(uint64_t r) { return (r << 1) ^ ((int64_t)r < 0 ? POLY : 0); }

struct work {
    uint64_t *table, mask, updates, start;
};
static volatile int go; /* the main thread opens the region, then lets the workers run */

static void update(const struct work *w) {
    uint64_t r = w->start;
    for (uint64_t i = 0; i < w->updates; ++i) {
        r = next_random(r);
        __atomic_fetch_xor(&w->table[r & w->mask], r, __ATOMIC_RELAXED);
    }
}

static int worker(void *arg) {
    while (!go)
        yield();
    update(arg);
    return 0;
}

/* One pass: every worker applies its stream; the caller waits for all. 0 if all ran. */
static int pass(struct work *w, uint64_t n, const char *region) {
    int tid[MAX_WORKERS], failed = 0;
    go = 0;
    for (uint64_t t = 0; t < n; ++t) {
        tid[t] = thread_create(worker, &w[t]);
        if (tid[t] < 0) {
            printf("threads: cannot create thread %lu: error %d\n", t, -tid[t]);
            failed = 1;
        }
    }
    if (region)
        roi_begin(region);
    go = 1;
    for (uint64_t t = 0; t < n; ++t) {
        int status = -1;
        if (tid[t] >= 0 && (thread_join(tid[t], &status) != tid[t] || status != 0))
            failed = 1;
    }
    if (region)
        roi_end();
    return failed;
}

int main(int argc, char **argv) {
    args_check(argc, argv, (const char *const[]){"threads", "table_mib", "updates", 0});
    uint64_t n = arg_u64(argc, argv, "threads", 4);
    uint64_t table_mib = arg_u64(argc, argv, "table_mib", 64);
    uint64_t updates = arg_u64(argc, argv, "updates", 1000000);
    if (table_mib == 0 || (table_mib & (table_mib - 1))) {
        printf("threads: table_mib must be a power of two (HPCC tables are 2^k words)\n");
        return 2;
    }
    if (n == 0 || n > MAX_WORKERS) {
        printf("threads: threads must be 1 to %d\n", MAX_WORKERS);
        return 2;
    }
    uint64_t words = table_mib << 17;
    uint64_t *table = malloc(words * 8);
    if (!table) {
        printf("threads: cannot allocate %lu MiB\n", table_mib);
        return 1;
    }
    for (uint64_t i = 0; i < words; ++i)
        table[i] = i;
    struct work w[MAX_WORKERS];
    for (uint64_t t = 0; t < n; ++t) {
        w[t].table = table;
        w[t].mask = words - 1;
        /* The updates split as evenly as they go; distinct nonzero starts. */
        w[t].updates = updates / n + (t < updates % n);
        w[t].start = 0x2545f4914f6cdd1dULL ^ ((t + 1) * 0x9e3779b97f4a7c15ULL);
        if (!w[t].start)
            w[t].start = 1;
    }
    /* The steady state: the threads' update pass, after the table's first touch. */
    int failed = pass(w, n, "updates");
    uint64_t sum = 0;
    for (uint64_t i = 0; i < words; ++i)
        sum += table[i] * (2 * i + 1);
    failed |= pass(w, n, 0);
    uint64_t errors = 0;
    for (uint64_t i = 0; i < words; ++i)
        errors += table[i] != i;
    free(table);
    report("threads.errors", errors);
    return finish("threads", sum, errors == 0 && !failed);
}
