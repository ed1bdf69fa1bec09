// The child-process pool (engine/experiment/process_pool.h): bounded parallelism, statuses in job
// order, signals that stop the pool, and children that do not outlive their parent.
#include "engine/experiment/process_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace vmmu {
namespace {

ChildJob function_job(std::function<int()> run) {
    ChildJob j;
    j.run = std::move(run);
    return j;
}

PoolOptions with_jobs(unsigned n) {
    PoolOptions o;
    o.jobs = n;
    return o;
}

ChildJob program_job(std::vector<std::string> argv) {
    ChildJob j;
    j.argv = std::move(argv);
    return j;
}

TEST(ProcessPool, RunsSixJobsTwoAtATimeAndReturnsStatusesInJobOrder) {
    std::vector<ChildJob> jobs;
    // Later jobs finish first, so completion order differs from job order.
    for (int i = 0; i < 6; ++i)
        jobs.push_back(function_job([i] {
            usleep(static_cast<useconds_t>((6 - i) * 40'000));
            return i;
        }));
    size_t running = 0, most = 0;
    std::vector<size_t> finished;
    PoolOptions o;
    o.jobs = 2;
    o.on_start = [&](size_t) { most = std::max(most, ++running); };
    o.on_finish = [&](size_t job, const ChildStatus&) {
        --running;
        finished.push_back(job);
    };
    PoolResult r = run_pool(jobs, o);
    EXPECT_EQ(r.signal, 0);
    EXPECT_EQ(most, 2u);
    EXPECT_EQ(finished.size(), 6u);
    ASSERT_EQ(r.children.size(), 6u);
    for (int i = 0; i < 6; ++i) {
        EXPECT_TRUE(r.children[i].started);
        EXPECT_FALSE(r.children[i].stopped);
        EXPECT_EQ(r.children[i].exit_code, i);
        EXPECT_EQ(r.children[i].term_signal, 0);
    }
}

TEST(ProcessPool, ProgramsReportExitCodesSignalsAndStartFailures) {
    std::vector<ChildJob> jobs = {program_job({"sh", "-c", "exit 7"}),
                                  program_job({"/bin/sh", "-c", "kill -KILL $$"}),
                                  program_job({"/nonexistent/vmmu-test-program"})};
    PoolResult r = run_pool(jobs, with_jobs(3));
    EXPECT_EQ(r.children[0].exit_code, 7);
    EXPECT_EQ(r.children[1].term_signal, SIGKILL);
    EXPECT_EQ(r.children[1].exit_code, 128 + SIGKILL);
    EXPECT_EQ(r.children[2].exit_code, 127);
    EXPECT_EQ(r.children[2].start_error,
              "cannot run /nonexistent/vmmu-test-program: No such file or directory");
}

TEST(ProcessPool, EachChildLeadsItsOwnProcessGroup) {
    std::vector<ChildJob> jobs(2, function_job([] { return getpgid(0) == getpid() ? 0 : 1; }));
    PoolResult r = run_pool(jobs, with_jobs(2));
    EXPECT_EQ(r.children[0].exit_code, 0);
    EXPECT_EQ(r.children[1].exit_code, 0);
}

TEST(ProcessPool, SigintStopsNewStartsAndSendsSigtermToRunningChildren) {
    struct sigaction before {};
    sigaction(SIGINT, nullptr, &before);
    std::vector<ChildJob> jobs(5, function_job([] {
                                   sleep(30);
                                   return 0;
                               }));
    size_t started = 0;
    PoolOptions o;
    o.jobs = 2;
    o.on_start = [&](size_t) { ++started; };
    // As Ctrl-C would, once both running children have started; once, since a second signal
    // gets the default action.
    bool sent = false;
    o.on_poll = [&] {
        if (started == 2 && !sent) sent = raise(SIGINT) == 0;
    };
    auto t0 = std::chrono::steady_clock::now();
    PoolResult r = run_pool(jobs, o);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_LT(secs, 10);
    EXPECT_EQ(r.signal, SIGINT);
    EXPECT_EQ(r.exit_code(), 130);
    EXPECT_EQ(started, 2u);
    for (size_t i = 0; i < 2; ++i) {
        EXPECT_TRUE(r.children[i].started);
        EXPECT_TRUE(r.children[i].stopped);
        EXPECT_EQ(r.children[i].term_signal, SIGTERM);
    }
    for (size_t i = 2; i < 5; ++i) EXPECT_FALSE(r.children[i].started);
    // The previous handler is back once the pool returns.
    struct sigaction after {};
    sigaction(SIGINT, nullptr, &after);
    EXPECT_EQ(after.sa_handler, before.sa_handler);
}

TEST(ProcessPool, ChildrenDieWhenTheParentIsKilled) {
    // Orphans are handed to this process rather than init, so their end can be waited for.
    ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t parent = fork();
    ASSERT_GE(parent, 0);
    if (parent == 0) {
        close(fds[0]);
        std::vector<ChildJob> jobs(1, function_job([&] {
                                       pid_t self = getpid();
                                       if (write(fds[1], &self, sizeof self) != sizeof self)
                                           return 1;
                                       sleep(30);
                                       return 0;
                                   }));
        run_pool(jobs, PoolOptions{});
        _exit(0);
    }
    close(fds[1]);
    pollfd p{fds[0], POLLIN, 0};
    ASSERT_EQ(poll(&p, 1, 10'000), 1) << "the pool's child never started";
    pid_t child = 0;
    ASSERT_EQ(read(fds[0], &child, sizeof child), static_cast<ssize_t>(sizeof child));
    close(fds[0]);
    kill(parent, SIGKILL);
    int status = 0;
    ASSERT_EQ(waitpid(parent, &status, 0), parent);
    EXPECT_TRUE(WIFSIGNALED(status));
    // The child gets SIGTERM from the kernel (PR_SET_PDEATHSIG) and is reparented to us.
    pid_t got = 0;
    for (int i = 0; i < 500 && got == 0; ++i) {
        got = waitpid(child, &status, WNOHANG);
        if (got == 0) usleep(10'000);
    }
    prctl(PR_SET_CHILD_SUBREAPER, 0);
    ASSERT_EQ(got, child) << "the child outlived its killed parent";
    EXPECT_TRUE(WIFSIGNALED(status));
    EXPECT_EQ(WTERMSIG(status), SIGTERM);
    if (got != child) kill(child, SIGKILL);
}

} // namespace
} // namespace vmmu
