/* ctxswitch: procs processes pass a token around a ring `rounds` times, each yielding until
 * the token is its own (after lmbench's lat_ctx, with a shared page instead of pipes). Each
 * hand-off is a yield and a context switch: an address-space switch, i.e. a CR3 load. */
#include "libc.h"

#define MAX_PROCS 48

struct ring {
    volatile uint64_t token;  /* whose turn it is */
    volatile uint64_t hash;   /* every turn, in order: FNV-1a of the participant ids */
    volatile uint64_t turns[MAX_PROCS];
    volatile uint64_t yields[MAX_PROCS];
};

static uint64_t mix(uint64_t h, uint64_t id) { return (h ^ (id + 1)) * 0x100000001b3ULL; }

int main(int argc, char **argv) {
    args_check(argc, argv, (const char *const[]){"rounds", "procs", 0});
    uint64_t rounds = arg_u64(argc, argv, "rounds", 20000);
    uint64_t procs = arg_u64(argc, argv, "procs", 2);
    if (procs < 1 || procs > MAX_PROCS) {
        printf("ctxswitch: procs must be in [1, %d]\n", MAX_PROCS);
        return 2;
    }
    struct ring *ring = mmap_anon(sizeof *ring, VMMU_MAP_SHARED);
    if (ring == (void *)-1) {
        printf("ctxswitch: mmap failed\n");
        return 1;
    }
    ring->hash = 0xcbf29ce484222325ULL;
    /* Nobody's turn until every process exists: the steady state (the ring going round)
     * starts when the parent hands the token to process 0. */
    ring->token = procs;
    for (uint64_t id = 0; id < procs; ++id) {
        int pid = fork();
        if (pid < 0) {
            printf("ctxswitch: fork failed: error %d\n", -pid);
            return 1;
        }
        if (pid > 0)
            continue;
        for (uint64_t r = 0; r < rounds; ++r) {
            while (ring->token != id) {
                yield();
                ring->yields[id]++;
            }
            ring->hash = mix(ring->hash, id);
            ring->turns[id]++;
            ring->token = (id + 1) % procs;
        }
        exit(0);
    }
    roi_begin("rounds");
    ring->token = 0;
    int ok = 1;
    for (uint64_t i = 0; i < procs; ++i) {
        int status;
        if (wait(&status) < 0 || status != 0)
            ok = 0;
    }
    roi_end();
    uint64_t expect = 0xcbf29ce484222325ULL, yields = 0;
    for (uint64_t r = 0; r < rounds; ++r)
        for (uint64_t id = 0; id < procs; ++id)
            expect = mix(expect, id);
    for (uint64_t id = 0; id < procs; ++id) {
        ok = ok && ring->turns[id] == rounds;
        yields += ring->yields[id];
    }
    ok = ok && ring->hash == expect;
    report("ctxswitch.yields", yields);
    report("ctxswitch.handoffs", rounds * procs);
    return finish("ctxswitch", ring->hash, ok);
}
