/* A user program that writes to an unmapped user address (tests/robustness_guest_test.cpp): the
 * kernel kills it on the page fault and init shuts down with a failing status. */
#include "libc.h"

int main(int argc, char **argv) {
    printf("robust_crash: writing to an unmapped address\n");
    /* In the MMIO window (above G) but below the user data base: never mapped. */
    volatile uint64_t *p = (volatile uint64_t *)0x6000000000ull;
    *p = 1;
    return 0;
}
