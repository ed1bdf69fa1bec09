/* forkwait: n times, fork a child that exits at once, and wait for it. The process-creation
 * microbenchmark of Adams & Agesen (ASPLOS 2006): each iteration copies the parent's page
 * tables copy-on-write, takes the child's first write faults, tears the child down. */
#include "libc.h"

/* A few pages of parent data, so each fork has something to share copy-on-write. */
static uint64_t parent_data[4 * 512];

static int child_status(uint64_t i) { return (int)((i * 7 + 3) & 0x7f); }

int main(int argc, char **argv) {
    args_check(argc, argv, (const char *const[]){"n", 0});
    uint64_t n = arg_u64(argc, argv, "n", 1000);
    for (uint64_t i = 0; i < sizeof parent_data / 8; ++i)
        parent_data[i] = i;
    uint64_t sum = 0;
    int ok = 1;
    /* The steady state: the fork / exit / wait loop. */
    roi_begin("forks");
    for (uint64_t i = 0; i < n; ++i) {
        int pid = fork();
        if (pid == 0) {
            /* The child writes one shared page (a copy-on-write copy) and exits. */
            parent_data[i % (sizeof parent_data / 8)] += 1;
            exit(child_status(i));
        }
        if (pid < 0) {
            printf("forkwait: fork %lu failed: error %d\n", i, -pid);
            ok = 0;
            break;
        }
        int status = -1;
        int got = wait(&status);
        if (got != pid || status != child_status(i)) {
            printf("forkwait: iteration %lu: waited pid %d status %d, expected pid %d status %d\n",
                   i, got, status, pid, child_status(i));
            ok = 0;
        }
        sum = sum * 31 + (uint64_t)status;
    }
    roi_end();
    /* The children's writes must not have reached the parent's copy. */
    for (uint64_t i = 0; i < sizeof parent_data / 8; ++i)
        ok = ok && parent_data[i] == i;
    report("forkwait.forks", n);
    return finish("forkwait", sum, ok);
}
