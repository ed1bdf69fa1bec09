// Runs jobs as child processes, a bounded number at a time: the one place vmmu starts children
// (sweeps, the scaling study, the HTML report). Processes rather than threads: a guest that
// crashes the emulator takes down one run, not the command. Each child runs in a process group
// of its own, so a Ctrl-C at the terminal reaches the parent only, which passes SIGTERM on
// exactly once; and each asks the kernel for a signal when the parent dies (PR_SET_PDEATHSIG),
// so no child outlives a parent killed by SIGKILL or a crash.
#pragma once

#include <csignal>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace vmmu {

// One child: either a program to execute or a function run in a forked copy of this process.
struct ChildJob {
    // The program and its arguments; argv[0] is a path, or a name looked up on PATH.
    std::vector<std::string> argv;
    // Used when argv is empty: runs in the forked child, returns its exit code.
    std::function<int()> run;
    // "" keeps the parent's stdout and stderr; otherwise both go to this file (truncated).
    std::string output;
    // stdin from /dev/null rather than the parent's.
    bool null_stdin = false;
};

struct ChildStatus {
    bool started = false;    // false: the pool was stopped before this job began
    bool stopped = false;    // still running when the pool was stopped (it was sent SIGTERM)
    int exit_code = 0;       // the exit status, or 128 + the signal that ended it
    int term_signal = 0;     // the signal that ended it, 0 if it exited
    std::string start_error; // "cannot run PROGRAM: reason" ("" if it was executed)
    double seconds = 0;      // wall clock from start to exit
};

struct PoolOptions {
    unsigned jobs = 1; // children at a time (0 counts as 1)
    // Sent to a child when the parent dies: SIGTERM lets a run write its incomplete results.
    int death_signal = SIGTERM;
    // Called in the parent as children start and finish, and on every poll (a progress redraw).
    std::function<void(size_t job)> on_start;
    std::function<void(size_t job, const ChildStatus&)> on_finish;
    std::function<void()> on_poll;
};

struct PoolResult {
    std::vector<ChildStatus> children; // in the order of the jobs
    int signal = 0;                    // the SIGINT/SIGTERM/SIGHUP that stopped the pool, 0 if none
    int exit_code() const { return signal ? 128 + signal : 0; }
};

// Starts the jobs in order, at most `jobs` at a time, and waits for every child it started.
// While it runs it holds an InterruptGuard (interrupt.h): after SIGINT, SIGTERM or SIGHUP it
// starts no more jobs and sends SIGTERM once to every running child's process group.
PoolResult run_pool(const std::vector<ChildJob>& jobs, const PoolOptions& options);

// The path execvp would run for `name` (a name without '/' is looked up on PATH); "" if none.
std::string find_program(const std::string& name);

} // namespace vmmu
