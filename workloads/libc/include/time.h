/* Guest libc: time. The guest's only clock counts guest instructions (deterministic, exact):
 * clock() returns the instructions retired since boot, and CLOCK_MONOTONIC reads them as
 * nanoseconds (a notional 1 GHz machine retiring one instruction per cycle). There is no wall
 * clock: time() returns 0. */
#ifndef VMMU_TIME_H
#define VMMU_TIME_H
#include <stddef.h>
typedef long clock_t;
typedef long time_t;
struct timespec {
    time_t tv_sec;
    long tv_nsec;
};
#define CLOCKS_PER_SEC 1000000000L
#define CLOCK_REALTIME 0
#define CLOCK_MONOTONIC 1
typedef int clockid_t;
clock_t clock(void);
time_t time(time_t *t);
int clock_gettime(clockid_t id, struct timespec *ts);
#endif
