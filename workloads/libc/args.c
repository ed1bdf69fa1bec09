/* Program parameters arrive as "key=value" words (the engine's --param, the boot command
 * line); these helpers read them, report the results, and derive deterministic randomness. */
#include "libc.h"

static const char *value_of(const char *arg, const char *key) {
    size_t n = strlen(key);
    if (strncmp(arg, key, n) == 0 && arg[n] == '=')
        return arg + n + 1;
    return 0;
}

uint64_t arg_u64(int argc, char **argv, const char *key, uint64_t def) {
    for (int i = 1; i < argc; ++i) {
        const char *v = value_of(argv[i], key);
        if (!v)
            continue;
        uint64_t x = 0;
        unsigned base = 10;
        if (v[0] == '0' && (v[1] == 'x' || v[1] == 'X')) {
            base = 16;
            v += 2;
        }
        if (!*v)
            goto bad;
        for (; *v; ++v) {
            unsigned d;
            if (*v >= '0' && *v <= '9')
                d = (unsigned)(*v - '0');
            else if (base == 16 && *v >= 'a' && *v <= 'f')
                d = (unsigned)(*v - 'a' + 10);
            else if (base == 16 && *v >= 'A' && *v <= 'F')
                d = (unsigned)(*v - 'A' + 10);
            else if (*v == '_' || *v == ',')
                continue; /* digit separators: 1_000_000 */
            else
                goto bad;
            if (x > (UINT64_MAX - d) / base)
                goto bad;
            x = x * base + d;
        }
        def = x; /* the last occurrence wins, as with command-line options */
        continue;
    bad:
        printf("%s: bad value in '%s': expected an unsigned number\n", argv[0], argv[i]);
        exit(2);
    }
    return def;
}

void args_check(int argc, char **argv, const char *const *known) {
    for (int i = 1; i < argc; ++i) {
        int ok = 0;
        for (const char *const *k = known; *k && !ok; ++k)
            ok = value_of(argv[i], *k) != 0;
        if (!ok) {
            printf("%s: unknown argument '%s'; parameters:", argv[0], argv[i]);
            for (const char *const *k = known; *k; ++k)
                printf(" %s", *k);
            printf("\n");
            exit(2);
        }
    }
}

uint64_t rand64(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

int finish(const char *prog, uint64_t checksum, int ok) {
    char key[64];
    snprintf(key, sizeof key, "%s.checksum", prog);
    report(key, checksum);
    snprintf(key, sizeof key, "%s.ok", prog);
    report(key, ok ? 1 : 0);
    printf("%s: checksum %lx, %s\n", prog, checksum, ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
