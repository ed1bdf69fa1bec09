/* sessions: a remote-desktop "knowledge worker" model (the workload behind the RDS
 * consolidation numbers cited in results/VALIDATION.md: users log on, work in applications,
 * log off). One program, three roles chosen by the role= argument:
 *   top    starts `sessions` login processes side by side (fork + exec) and waits for them;
 *   login  performs `actions` actions: launch an application (fork + exec), wait for it,
 *          think for think_ticks timer ticks (sleep);
 *   app    allocates a working set of ws_mib MiB and touches every page, works in `bursts`
 *          bursts of random read-modify-writes over it, hands the CPU back and forth with a
 *          helper process (fork) between bursts, checks its data, frees it and exits.
 * Results travel up in exit statuses: bits 8..30 a digest of the work, bits 0..7 zero if
 * every check passed (a killed process has 128 + vector there). */
#include "libc.h"

#define DIGEST_MASK 0x7fffffULL
#define HANDOFF_YIELDS 4

static int status_of(uint64_t digest, int failed) {
    return (int)(((digest & DIGEST_MASK) << 8) | (failed ? 1 : 0));
}

/* Starts `sessions` with argv in a new process (fork + exec, as a shell launches a program). */
static int spawn(char **argv) {
    int pid = fork();
    if (pid == 0) {
        int err = exec("sessions", argv);
        printf("sessions: exec failed: error %d\n", -err);
        exit(127);
    }
    return pid;
}

struct params {
    uint64_t sessions, actions, ws_mib, think_ticks, bursts, burst_updates;
};

static void format_params(char buf[][32], const struct params *p) {
    snprintf(buf[0], 32, "actions=%lu", p->actions);
    snprintf(buf[1], 32, "ws_mib=%lu", p->ws_mib);
    snprintf(buf[2], 32, "think_ticks=%lu", p->think_ticks);
    snprintf(buf[3], 32, "bursts=%lu", p->bursts);
    snprintf(buf[4], 32, "burst_updates=%lu", p->burst_updates);
}

/* Waits for n children; folds their digests, counts failures. */
static uint64_t collect(uint64_t n, uint64_t *failures) {
    uint64_t digest = 0;
    for (uint64_t i = 0; i < n; ++i) {
        int status;
        if (wait(&status) < 0) {
            ++*failures;
            continue;
        }
        if (status & 0xff)
            ++*failures;
        digest += (uint64_t)status >> 8;
    }
    return digest;
}

static int run_app(const struct params *p, uint64_t session, uint64_t action) {
    uint64_t seed = session * 1000003 + action;
    uint64_t words = p->ws_mib << 17;
    uint64_t *ws = malloc(words * 8);
    if (!ws || words == 0)
        return status_of(0, 1);
    /* Open the document: touch every page of the working set. */
    uint64_t running = 0;
    for (uint64_t i = 0; i < words; i += 8) {
        ws[i] = rand64(&seed);
        running += ws[i];
    }
    int helper = fork();
    if (helper == 0) {
        /* The helper (a spell checker, an indexer...) runs in step with the application. */
        for (uint64_t b = 0; b < p->bursts * HANDOFF_YIELDS; ++b)
            yield();
        exit(0);
    }
    /* The working phase: the bursts and hand-offs, after opening the document. Apps of other
     * sessions may be working at once: the window is the time any of them is. */
    roi_begin("work");
    for (uint64_t b = 0; b < p->bursts; ++b) {
        for (uint64_t u = 0; u < p->burst_updates; ++u) {
            uint64_t r = rand64(&seed);
            uint64_t i = (r % (words / 8)) * 8; /* the words written when touching */
            running -= ws[i];
            ws[i] += r >> 32;
            running += ws[i];
        }
        for (int y = 0; y < HANDOFF_YIELDS; ++y)
            yield();
    }
    roi_end();
    int helper_status = -1;
    int failed = helper < 0 || wait(&helper_status) != helper || helper_status != 0;
    uint64_t check = 0;
    for (uint64_t i = 0; i < words; i += 8)
        check += ws[i];
    failed = failed || check != running;
    free(ws);
    return status_of(running ^ (running >> 23) ^ (running >> 46), failed);
}

static int run_login(const struct params *p, uint64_t session) {
    char shared[5][32], role[] = "role=app", sess[32], act[32];
    format_params(shared, p);
    snprintf(sess, sizeof sess, "session=%lu", session);
    uint64_t digest = 0, failures = 0;
    for (uint64_t a = 0; a < p->actions; ++a) {
        snprintf(act, sizeof act, "action=%lu", a);
        char *argv[] = {"sessions", role, sess, act, shared[0], shared[1], shared[2],
                        shared[3], shared[4], 0};
        if (spawn(argv) < 0) {
            ++failures;
            continue;
        }
        digest += collect(1, &failures) * (a + 1);
        if (p->think_ticks)
            sleep(p->think_ticks);
    }
    return status_of(digest, failures != 0);
}

int main(int argc, char **argv) {
    args_check(argc, argv,
               (const char *const[]){"sessions", "actions", "ws_mib", "think_ticks", "bursts",
                                     "burst_updates", "role", "session", "action", 0});
    struct params p = {
        .sessions = arg_u64(argc, argv, "sessions", 4),
        .actions = arg_u64(argc, argv, "actions", 4),
        .ws_mib = arg_u64(argc, argv, "ws_mib", 2),
        .think_ticks = arg_u64(argc, argv, "think_ticks", 5),
        .bursts = arg_u64(argc, argv, "bursts", 4),
        .burst_updates = arg_u64(argc, argv, "burst_updates", 10000),
    };
    /* role= is set by the parent process; a user runs the top role. */
    const char *role = "top";
    for (int i = 1; i < argc; ++i)
        if (strncmp(argv[i], "role=", 5) == 0)
            role = argv[i] + 5;
    if (strcmp(role, "app") == 0)
        return run_app(&p, arg_u64(argc, argv, "session", 0), arg_u64(argc, argv, "action", 0));
    if (strcmp(role, "login") == 0)
        return run_login(&p, arg_u64(argc, argv, "session", 0));

    char shared[5][32], role_login[] = "role=login", sess[32];
    format_params(shared, &p);
    for (uint64_t s = 0; s < p.sessions; ++s) {
        snprintf(sess, sizeof sess, "session=%lu", s);
        char *args[] = {"sessions", role_login, sess, shared[0], shared[1], shared[2],
                        shared[3], shared[4], 0};
        if (spawn(args) < 0)
            printf("sessions: cannot start session %lu\n", s);
    }
    uint64_t failures = 0;
    uint64_t digest = collect(p.sessions, &failures);
    report("sessions.apps", p.sessions * p.actions);
    report("sessions.failures", failures);
    return finish("sessions", digest, failures == 0);
}
