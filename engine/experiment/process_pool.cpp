#include "engine/experiment/process_pool.h"

#include "engine/experiment/interrupt.h"

#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <stdexcept>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

extern char** environ;

namespace vmmu {
namespace {

using Clock = std::chrono::steady_clock;

// Polled, so a signal that lands between the stop check and the wait is seen within a tick
// rather than when some child happens to finish.
constexpr auto kPollInterval = std::chrono::milliseconds(20);

struct Running {
    pid_t pid;
    size_t job;
    Clock::time_point start;
};

// Everything the child needs, built before fork: between fork and exec only async-signal-safe
// calls are allowed (the parent may have other threads, e.g. under a test runner).
struct Prepared {
    std::string program;
    std::vector<std::string> args;
    std::vector<char*> argv;
};

void write_errno(int fd, int err) {
    while (::write(fd, &err, sizeof err) < 0 && errno == EINTR) {
    }
}

// Child side, straight after fork. `report` is the exec-error pipe (-1 for a function job).
// The stop signals arrive blocked (start blocks them across fork); they are unblocked only once
// their handlers are the default ones, so the parent's handler never runs in the child.
[[noreturn]] void start_child(const ChildJob& job, const Prepared& p, pid_t parent,
                              int death_signal, int report, const sigset_t& unblocked) {
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &dfl, nullptr);
    sigprocmask(SIG_SETMASK, &unblocked, nullptr);
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, death_signal);
    // The parent died before the request took effect: act as if the signal had come.
    if (getppid() != parent) {
        raise(death_signal);
        _exit(128 + death_signal);
    }
    if (job.null_stdin) {
        int fd = open("/dev/null", O_RDONLY);
        if (fd >= 0 && fd != 0) {
            dup2(fd, 0);
            close(fd);
        }
    }
    if (!job.output.empty()) {
        int fd = open(job.output.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) {
            if (report >= 0) write_errno(report, errno);
            _exit(127);
        }
        dup2(fd, 1);
        dup2(fd, 2);
        if (fd > 2) close(fd);
    }
    if (!p.argv.empty()) {
        execve(p.program.c_str(), p.argv.data(), environ);
        write_errno(report, errno);
        _exit(127);
    }
    int rc = 1;
    try {
        rc = job.run();
    } catch (...) {
    }
    std::fflush(nullptr);
    _exit(rc);
}

// Stops and reaps every running child before an error leaves the pool.
void abandon(std::vector<Running>& running) {
    for (auto& c : running) kill(-c.pid, SIGTERM);
    for (auto& c : running)
        while (waitpid(c.pid, nullptr, 0) < 0 && errno == EINTR) {
        }
    running.clear();
}

// Starts job `i`; returns its pid, or 0 with `s.start_error` set if it could not be executed.
pid_t start(const ChildJob& job, ChildStatus& s, int death_signal) {
    Prepared p;
    if (!job.argv.empty()) {
        p.program = find_program(job.argv[0]);
        if (p.program.empty()) {
            s.start_error = fmt::format("cannot run {}: {}", job.argv[0], std::strerror(ENOENT));
            return 0;
        }
        p.args = job.argv;
        for (auto& a : p.args) p.argv.push_back(a.data());
        p.argv.push_back(nullptr);
    } else if (!job.run) {
        throw std::logic_error("process pool: a job needs argv or a function");
    }
    int pipe_fds[2] = {-1, -1};
    if (!p.argv.empty() && pipe2(pipe_fds, O_CLOEXEC) != 0)
        throw std::runtime_error(fmt::format("pipe: {}", std::strerror(errno)));
    pid_t parent = getpid();
    // Buffered output would otherwise be written twice, once by the child.
    std::fflush(nullptr);
    sigset_t stop_signals, before;
    sigemptyset(&stop_signals);
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&stop_signals, sig);
    sigprocmask(SIG_BLOCK, &stop_signals, &before);
    pid_t pid = fork();
    if (pid == 0) start_child(job, p, parent, death_signal, pipe_fds[1], before);
    // A stop signal that came meanwhile is delivered now, to the parent's handler.
    sigprocmask(SIG_SETMASK, &before, nullptr);
    if (pid < 0) {
        int err = errno;
        if (pipe_fds[0] >= 0) {
            close(pipe_fds[0]);
            close(pipe_fds[1]);
        }
        throw std::runtime_error(fmt::format("fork: {}", std::strerror(err)));
    }
    // Also here, so the group exists before the parent might signal it.
    setpgid(pid, pid);
    if (pipe_fds[0] < 0) return pid;
    close(pipe_fds[1]);
    int err = 0;
    ssize_t n;
    while ((n = ::read(pipe_fds[0], &err, sizeof err)) < 0 && errno == EINTR) {
    }
    close(pipe_fds[0]);
    if (n == sizeof err)
        s.start_error = fmt::format("cannot run {}: {}", job.argv[0], std::strerror(err));
    return pid;
}

void record_exit(ChildStatus& s, int status) {
    if (WIFSIGNALED(status)) {
        s.term_signal = WTERMSIG(status);
        s.exit_code = 128 + s.term_signal;
    } else {
        s.exit_code = WEXITSTATUS(status);
    }
}

} // namespace

std::string find_program(const std::string& name) {
    auto runnable = [](const std::string& path) {
        struct stat st {};
        return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
               ::access(path.c_str(), X_OK) == 0;
    };
    if (name.empty()) return "";
    if (name.find('/') != std::string::npos) return runnable(name) ? name : "";
    const char* env = std::getenv("PATH");
    // execvp's default search path when PATH is unset.
    std::string path = env ? env : "/bin:/usr/bin";
    size_t begin = 0;
    while (begin <= path.size()) {
        size_t end = path.find(':', begin);
        if (end == std::string::npos) end = path.size();
        std::string dir = path.substr(begin, end - begin);
        std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
        if (runnable(candidate)) return candidate;
        begin = end + 1;
    }
    return "";
}

PoolResult run_pool(const std::vector<ChildJob>& jobs, const PoolOptions& o) {
    InterruptGuard guard;
    PoolResult r;
    r.children.resize(jobs.size());
    const size_t limit = std::max(1u, o.jobs);
    std::vector<Running> running;
    size_t next = 0;
    bool forwarded = false;
    auto finish = [&](size_t job) {
        if (o.on_finish) o.on_finish(job, r.children[job]);
    };
    while (true) {
        bool stopping = guard.signal() != 0;
        if (stopping && !forwarded) {
            // Once: a second SIGTERM would kill a run before it writes its results.
            forwarded = true;
            for (auto& c : running) {
                r.children[c.job].stopped = true;
                kill(-c.pid, SIGTERM);
            }
        }
        // A signal during a start (which may wait for the exec) stops further starts at once.
        while (guard.signal() == 0 && next < jobs.size() && running.size() < limit) {
            size_t i = next++;
            ChildStatus& s = r.children[i];
            s.started = true;
            pid_t pid = 0;
            try {
                pid = start(jobs[i], s, o.death_signal);
            } catch (...) {
                abandon(running);
                throw;
            }
            if (o.on_start) o.on_start(i);
            if (pid == 0) {
                s.exit_code = 127;
                finish(i);
                continue;
            }
            running.push_back({pid, i, Clock::now()});
        }
        if (running.empty() && (stopping || next == jobs.size())) break;
        bool reaped = false;
        for (auto it = running.begin(); it != running.end();) {
            int status = 0;
            pid_t pid = waitpid(it->pid, &status, WNOHANG);
            if (pid == 0 || (pid < 0 && errno == EINTR)) {
                ++it;
                continue;
            }
            if (pid < 0) {
                int err = errno;
                abandon(running);
                throw std::runtime_error(fmt::format("waitpid: {}", std::strerror(err)));
            }
            ChildStatus& s = r.children[it->job];
            record_exit(s, status);
            s.seconds = std::chrono::duration<double>(Clock::now() - it->start).count();
            size_t job = it->job;
            it = running.erase(it);
            reaped = true;
            finish(job);
        }
        if (o.on_poll) o.on_poll();
        if (!reaped) std::this_thread::sleep_for(kPollInterval);
    }
    r.signal = guard.signal();
    return r;
}

} // namespace vmmu
