/* Two processes computing in double, x87 long double and SSE2 vectors at once, each with its
 * own rounding mode, preempted by the timer in the middle of their loops and yielding between
 * them (tests/fpu_test.cpp runs it with a short timer period). Any register, MXCSR or x87
 * control word the kernel failed to save or restore, or gave to the wrong process, changes the
 * printed results, which must equal the same source's run on the host. Standard C: it builds
 * unchanged against the guest libc and against glibc. */
#include <fenv.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

static unsigned long long bits(double d) {
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return (unsigned long long)u;
}

struct result {
    double x, v[4];
    long double s;
    int mode_kept;
};

static struct result work(double x, double r, int rounds, int mode) {
    struct result res = {0, {0}, 0, 1};
    double v[4] = {x, x * 0.5, x * 0.25, x * 0.125};
    long double s = 0;
    fesetround(mode);
    for (int k = 0; k < rounds; ++k) {
        for (int i = 0; i < 500; ++i) {
            x = r * x * (1.0 - x); /* the logistic map: chaotic, every bit matters */
            s += (long double)x / 3.0L;
            for (int j = 0; j < 4; ++j)
                v[j] = v[j] * 0.999 + x / (j + 1.5);
        }
        sched_yield();
        if (fegetround() != mode)
            res.mode_kept = 0;
    }
    fesetround(FE_TONEAREST);
    res.x = x;
    res.s = s;
    memcpy(res.v, v, sizeof v);
    return res;
}

static void print(const char *who, const struct result *r) {
    printf("%s: x=%016llx (%.17g) s=%.17g mode_kept=%d\n", who, bits(r->x), r->x, (double)r->s,
           r->mode_kept);
    for (int j = 0; j < 4; ++j)
        printf("%s: v[%d]=%016llx (%.17g)\n", who, j, bits(r->v[j]), r->v[j]);
}

int main(void) {
    int rounds = 60;
    printf("rounding mode at start: %d\n", fegetround()); /* exec's initial state: nearest */
    fesetround(FE_DOWNWARD);
    fflush(stdout); /* on the host, or the child would print the buffered line again */
    pid_t pid = fork();
    if (pid == 0) {
        printf("child inherited rounding mode %d\n", fegetround()); /* fork copies it */
        struct result r = work(0.3, 3.9, rounds, FE_TOWARDZERO);
        print("child", &r);
        return 0;
    }
    int kept = fegetround(); /* the child's own modes never reach the parent */
    struct result r = work(0.4, 3.7, rounds, FE_UPWARD);
    int status = -1;
    wait(&status);
    printf("parent kept rounding mode %d before its work\n", kept);
    print("parent", &r);
    printf("child status %d\n", WEXITSTATUS(status));
    return 0;
}
