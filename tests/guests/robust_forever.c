/* A user program that never exits (tests/robustness_guest_test.cpp): the engine must stop it with
 * --max-instructions or on SIGINT and still report what it counted. */
#include "libc.h"

int main(int argc, char **argv) {
    printf("robust_forever: spinning\n");
    volatile uint64_t n = 0;
    for (;;)
        n = n + 1;
}
