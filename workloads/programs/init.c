/* init: the first process. Runs the programs named on the boot command line and ends the run.
 *
 * Its arguments are the command line's words: "prog key=value ... ; prog2 ... & prog3 ...".
 * A ';' waits for every program started so far before the next starts; a '&' starts the next
 * at once, so "a & b ; c" runs a and b side by side, then c. When all have ended init reports
 * init.programs and init.failed and shuts down with status 0 if every program exited with 0. */
#include "libc.h"

static int running_pids[VMMU_ARGV_MAX];
static int running, failed, started;

static void wait_all(void) {
    while (running > 0) {
        int status;
        int pid = wait(&status);
        if (pid < 0)
            break;
        /* Orphans re-parented to init are reaped here too; only the programs it started count. */
        for (int i = 0; i < running; ++i) {
            if (running_pids[i] != pid)
                continue;
            running_pids[i] = running_pids[--running];
            if (status != 0) {
                printf("init: pid %d exited with status %d\n", pid, status);
                ++failed;
            }
            break;
        }
    }
}

static void start(char **words, int n) {
    char *argv[VMMU_ARGV_MAX];
    for (int i = 0; i < n; ++i)
        argv[i] = words[i];
    argv[n] = 0;
    int pid = fork();
    if (pid == 0) {
        int err = exec(argv[0], argv);
        printf("init: cannot run '%s': error %d\n", argv[0], -err);
        exit(127);
    }
    if (pid < 0) {
        printf("init: fork failed: error %d\n", -pid);
        ++failed;
        return;
    }
    running_pids[running++] = pid;
    ++started;
}

int main(int argc, char **argv) {
    int first = 1;
    for (int i = 1; i <= argc; ++i) {
        int end = i == argc || strcmp(argv[i], ";") == 0 || strcmp(argv[i], "&") == 0;
        if (!end)
            continue;
        if (i > first)
            start(&argv[first], i - first);
        if (i == argc || argv[i][0] == ';')
            wait_all();
        first = i + 1;
    }
    wait_all();
    if (started == 0) {
        printf("init: nothing to run; boot with a command line such as 'hello' or "
               "'gups table_mib=64 ; stream'\n");
        ++failed;
    }
    report("init.programs", (uint64_t)started);
    report("init.failed", (uint64_t)failed);
    shutdown(failed ? 1 : 0);
}
