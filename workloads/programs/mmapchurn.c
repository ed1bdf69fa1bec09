/* mmapchurn: map an anonymous region, touch every page, check it, unmap it; repeat. Each
 * round takes one demand-zero fault per page and unmaps (invlpg) every page again: the
 * page-table churn of allocation-heavy programs. */
#include "libc.h"

int main(int argc, char **argv) {
    args_check(argc, argv, (const char *const[]){"rounds", "region_kib", 0});
    uint64_t rounds = arg_u64(argc, argv, "rounds", 1000);
    uint64_t region_kib = arg_u64(argc, argv, "region_kib", 128);
    uint64_t bytes = region_kib * 1024, pages = (bytes + 4095) / 4096;
    uint64_t sum = 0;
    int ok = bytes > 0;
    /* The steady state: the whole churn (each round maps, touches and unmaps fresh memory). */
    roi_begin("churn");
    for (uint64_t r = 0; r < rounds && ok; ++r) {
        uint64_t *p = mmap_anon(bytes, 0);
        if (p == (void *)-1) {
            printf("mmapchurn: round %lu: mmap failed\n", r);
            ok = 0;
            break;
        }
        /* Fresh anonymous memory reads as zero, even where an earlier round wrote. */
        for (uint64_t pg = 0; pg < pages; ++pg)
            ok = ok && p[pg * 512 + 7] == 0;
        for (uint64_t pg = 0; pg < pages; ++pg)
            p[pg * 512] = r * pages + pg;
        for (uint64_t pg = 0; pg < pages; ++pg) {
            ok = ok && p[pg * 512] == r * pages + pg;
            sum = sum * 1099511628211ULL + p[pg * 512];
        }
        if (munmap(p, bytes) != 0) {
            printf("mmapchurn: round %lu: munmap failed\n", r);
            ok = 0;
        }
    }
    roi_end();
    report("mmapchurn.pages_touched", rounds * pages);
    return finish("mmapchurn", sum, ok);
}
