/* munmapstorm: threads that each map an anonymous region, touch every page, check it and
 * unmap it, over and over, in one shared address space. Every munmap changes page tables the
 * other threads' CPUs may cache, so on several CPUs each one is a TLB shootdown (IPIs to the
 * CPUs running the address space, each invalidating and acking): the multi-threaded
 * allocator churn that makes shootdowns a cost. A region a thread maps may be one another
 * thread just unmapped (mmap hands out the lowest free address), so a missed shootdown shows
 * as a fresh page that does not read as zero. Each thread's digest depends only on its index,
 * round and page, never on addresses or interleaving: the checksum is the same for every
 * number of CPUs. */
#include "libc.h"

#define MAX_WORKERS 32

struct work {
    uint64_t index, rounds, bytes, digest;
    int ok;
};
static volatile int go;

static int worker(void *arg) {
    struct work *w = arg;
    uint64_t pages = (w->bytes + 4095) / 4096, digest = 0;
    int ok = 1;
    while (!go)
        yield();
    for (uint64_t r = 0; r < w->rounds && ok; ++r) {
        uint64_t *p = mmap_anon(w->bytes, 0);
        if (p == (void *)-1) {
            printf("munmapstorm: thread %lu round %lu: mmap failed\n", w->index, r);
            ok = 0;
            break;
        }
        for (uint64_t pg = 0; pg < pages; ++pg)
            ok = ok && p[pg * 512 + 7] == 0;
        uint64_t base = (w->index << 40) + r * pages;
        for (uint64_t pg = 0; pg < pages; ++pg)
            p[pg * 512] = base + pg;
        for (uint64_t pg = 0; pg < pages; ++pg) {
            ok = ok && p[pg * 512] == base + pg;
            digest = digest * 1099511628211ULL + p[pg * 512];
        }
        if (munmap(p, w->bytes) != 0) {
            printf("munmapstorm: thread %lu round %lu: munmap failed\n", w->index, r);
            ok = 0;
        }
    }
    w->digest = digest;
    w->ok = ok;
    return ok ? 0 : 1;
}

int main(int argc, char **argv) {
    args_check(argc, argv, (const char *const[]){"threads", "rounds", "region_kib", 0});
    uint64_t n = arg_u64(argc, argv, "threads", 4);
    uint64_t rounds = arg_u64(argc, argv, "rounds", 250);
    uint64_t region_kib = arg_u64(argc, argv, "region_kib", 128);
    if (n == 0 || n > MAX_WORKERS || region_kib == 0) {
        printf("munmapstorm: threads must be 1 to %d and region_kib at least 1\n", MAX_WORKERS);
        return 2;
    }
    struct work w[MAX_WORKERS];
    int tid[MAX_WORKERS], ok = 1;
    for (uint64_t t = 0; t < n; ++t) {
        w[t].index = t;
        w[t].rounds = rounds;
        w[t].bytes = region_kib * 1024;
        w[t].digest = 0;
        w[t].ok = 0;
        tid[t] = thread_create(worker, &w[t]);
        if (tid[t] < 0) {
            printf("munmapstorm: cannot create thread %lu: error %d\n", t, -tid[t]);
            ok = 0;
        }
    }
    /* The steady state: every thread's churn, from the start signal to the last join. */
    roi_begin("storm");
    go = 1;
    for (uint64_t t = 0; t < n; ++t) {
        int status = -1;
        if (tid[t] < 0 || thread_join(tid[t], &status) != tid[t] || status != 0)
            ok = 0;
    }
    roi_end();
    uint64_t sum = 0;
    for (uint64_t t = 0; t < n; ++t) {
        ok = ok && w[t].ok;
        sum = sum * 1099511628211ULL + w[t].digest;
    }
    report("munmapstorm.pages_touched", n * rounds * ((region_kib * 1024 + 4095) / 4096));
    return finish("munmapstorm", sum, ok);
}
