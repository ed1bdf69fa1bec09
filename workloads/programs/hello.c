/* hello: the smallest workload. Prints a greeting and checks that the C runtime works:
 * arguments arrived, initialised data is intact, the heap and the stack are usable. */
#include "libc.h"

static const char greeting[] = "hello from the vmmu guest";
static uint64_t counter = 41; /* initialised data: must read 41 */
static uint64_t zeroes[64];   /* bss: must read zero */

int main(int argc, char **argv) {
    args_check(argc, argv, (const char *const[]){0});
    printf("%s (pid %d, argv[0] = %s)\n", greeting, getpid(), argv[0]);
    int ok = ++counter == 42 && strcmp(argv[0], "hello") == 0;
    for (int i = 0; i < 64; ++i)
        ok = ok && zeroes[i] == 0;
    char *heap = malloc(100);
    ok = ok && heap;
    if (heap) {
        snprintf(heap, 100, "%s", greeting);
        ok = ok && strcmp(heap, greeting) == 0;
        free(heap);
    }
    uint64_t sum = 0;
    for (const char *c = greeting; *c; ++c)
        sum = sum * 31 + (unsigned char)*c;
    return finish("hello", sum, ok);
}
