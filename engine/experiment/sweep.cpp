#include "engine/experiment/sweep.h"

#include "engine/core/stop_request.h"

#include <fmt/format.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <map>
#include <spawn.h>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

extern char** environ;

namespace vmmu {
namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

namespace {

// The vmmu executable to run children with (tests that drive the CLI in-process set VMMU_EXE).
std::string self_exe() {
    if (const char* e = std::getenv("VMMU_EXE")) return e;
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) throw std::runtime_error("cannot find the vmmu executable (/proc/self/exe)");
    buf[n] = 0;
    return buf;
}

pid_t spawn_run(const std::string& exe, const SweepRun& r, const SweepConfig& c) {
    std::vector<std::string> argv = {exe, "run", "--quiet"};
    argv.insert(argv.end(), r.args.begin(), r.args.end());
    argv.insert(argv.end(), {"--json", (c.runs_dir / (r.name + ".json")).string()});
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    std::string log = (c.logs_dir / (r.name + ".log")).string();
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    // Each run in a process group of its own: a Ctrl-C at the terminal reaches the sweep only,
    // which passes it on exactly once (a second signal would kill a run before it writes).
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    // The run follows its sweep even if the sweep is killed outright (sweep.h, kSweepParentEnv).
    std::string parent = fmt::format("{}={}", kSweepParentEnv, getpid());
    std::vector<char*> env;
    for (char** e = environ; *e; ++e)
        if (std::string_view(*e).rfind(kSweepParentEnv, 0) != 0) env.push_back(*e);
    env.push_back(parent.data());
    env.push_back(nullptr);
    pid_t pid = 0;
    int err = posix_spawn(&pid, exe.c_str(), &fa, &attr, cargv.data(), env.data());
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    if (err != 0)
        throw std::runtime_error(fmt::format("cannot start {}: {}", exe, std::strerror(err)));
    return pid;
}

// One line redrawn in place on a terminal; one line per finished run otherwise (logs, CI).
class Progress {
public:
    Progress(size_t total, bool enabled)
        : total_(total), enabled_(enabled), tty_(isatty(2)), start_(Clock::now()) {}

    void finished(const SweepOutcome& o, size_t done, size_t running) {
        if (!enabled_) return;
        double t = std::chrono::duration<double>(Clock::now() - start_).count();
        if (!tty_) {
            fmt::print(stderr, "[{}/{}] {} {} ({:.1f} s)\n", done, total_,
                       o.exit_code == 0 ? "ok  " : "FAIL", o.name, o.seconds);
            return;
        }
        if (o.exit_code != 0)
            fmt::print(stderr, "\r\033[KFAIL {} (exit {})\n", o.name, o.exit_code);
        constexpr int kWidth = 30;
        int filled = static_cast<int>(kWidth * done / std::max<size_t>(total_, 1));
        double eta = done ? t / done * (total_ - done) : 0;
        fmt::print(stderr,
                   "\r\033[K[{}{}] {}/{} runs, {} running, {:.0f} s elapsed, ~{:.0f} s left",
                   std::string(filled, '#'), std::string(kWidth - filled, '.'), done, total_,
                   running, t, eta);
        if (done == total_) fmt::print(stderr, "\n");
    }

private:
    size_t total_;
    bool enabled_, tty_;
    Clock::time_point start_;
};

std::string read_text(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// A run JSON found under a grid run's name must be that run (merging collects files that other
// machines wrote): its workload, parameters and profile name are checked against the run's flags.
void check_run_matches(const ojson& j, const SweepRun& r, const fs::path& p) {
    auto mismatch = [&](const std::string& what) {
        throw std::invalid_argument(fmt::format(
            "run JSON '{}' is not the grid's run {}: {}. It was written by another sweep or spec; "
            "remove it and rerun that run (its shard)",
            p.string(), r.name, what));
    };
    if (!j.contains("workload") || !j["workload"].is_object() || !j.contains("config"))
        mismatch("it has no \"workload\" and \"config\" (not a vmmu.run/1 document)");
    const ojson& w = j["workload"];
    for (size_t i = 0; i + 1 < r.args.size(); ++i) {
        const std::string &flag = r.args[i], &value = r.args[i + 1];
        if (flag == "--workload" && w.value("name", "") != value)
            mismatch(fmt::format("its workload is '{}', not '{}'", w.value("name", ""), value));
        if (flag == "--param") {
            std::string key = value.substr(0, value.find('='));
            std::string want = value.substr(value.find('=') + 1);
            if (!w.contains("params") || !w["params"].contains(key) ||
                w["params"][key].dump() != want)
                mismatch(fmt::format("its parameter {} is not {}", key, want));
        }
        // A profile given by name (not a file) is that profile's name in the run's config.
        if (flag == "--profile" && value.find('/') == std::string::npos &&
            value.find(".json") == std::string::npos && j["config"].value("profile", "") != value)
            mismatch(fmt::format("its profile is '{}', not '{}'", j["config"].value("profile", ""),
                                 value));
    }
}

} // namespace

void follow_sweep_parent() {
    const char* p = std::getenv(kSweepParentEnv);
    if (!p) return;
    pid_t parent = static_cast<pid_t>(std::strtol(p, nullptr, 10));
    unsetenv(kSweepParentEnv);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) // the sweep died before the request took effect
        raise(SIGTERM);
}

unsigned default_jobs() { return std::max(1u, std::thread::hardware_concurrency()); }

std::vector<SweepOutcome> run_sweep(const std::vector<SweepRun>& runs, const SweepConfig& c) {
    fs::create_directories(c.runs_dir);
    fs::create_directories(c.logs_dir);
    // A stale JSON or log from an earlier sweep must not pass for one of these runs' results,
    // including runs an interrupt keeps from starting.
    for (auto& r : runs) {
        fs::remove(c.runs_dir / (r.name + ".json"));
        fs::remove(c.logs_dir / (r.name + ".log"));
    }
    std::string exe = self_exe();
    std::vector<SweepOutcome> out(runs.size());
    std::map<pid_t, std::pair<size_t, Clock::time_point>> running;
    Progress progress(runs.size(), c.progress);
    size_t next = 0, done = 0;
    bool forwarded = false;
    while (done < next || next < runs.size()) {
        // SIGINT/SIGTERM/SIGHUP (InterruptGuard): no new runs; the running ones get SIGTERM
        // once, stop between blocks and still write their (incomplete) JSON.
        bool stopping = stop_requested();
        if (stopping && !forwarded) {
            forwarded = true;
            for (auto& [pid, _] : running) kill(pid, SIGTERM);
        }
        if (stopping && running.empty()) break;
        while (!stopping && next < runs.size() && running.size() < std::max(1u, c.jobs)) {
            out[next].name = runs[next].name;
            running[spawn_run(exe, runs[next], c)] = {next, Clock::now()};
            ++next;
        }
        // Polled, so a signal that lands between the check above and the wait is seen within
        // a tick rather than when some run happens to finish.
        int status = 0;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid == 0 || (pid < 0 && errno == EINTR)) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            continue;
        }
        if (pid < 0) throw std::runtime_error(fmt::format("waitpid: {}", std::strerror(errno)));
        auto it = running.find(pid);
        if (it == running.end()) continue; // not one of ours
        SweepOutcome& o = out[it->second.first];
        o.seconds = std::chrono::duration<double>(Clock::now() - it->second.second).count();
        o.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        running.erase(it);
        progress.finished(o, ++done, running.size());
    }
    for (size_t i = next; i < runs.size(); ++i) {
        out[i].name = runs[i].name;
        out[i].started = false;
    }
    return out;
}

ojson merge_sweep(const SweepSpec& spec, const std::vector<SweepRun>& runs,
                  const fs::path& runs_dir, Shard shard, double wall_seconds, unsigned jobs) {
    ojson m;
    m["schema"] = "vmmu.sweep/1";
    m["description"] = spec.description;
    m["shard"] = shard.text();
    m["grid_runs"] = spec.runs.size();
    ojson all = ojson::object();
    uint64_t failed = 0;
    for (auto& r : runs) {
        ojson e;
        e["args"] = r.args;
        fs::path p = runs_dir / (r.name + ".json");
        if (!fs::exists(p)) {
            e["result"] = nullptr;
            e["error"] = fs::exists(runs_dir.parent_path() / "logs" / (r.name + ".log"))
                             ? fmt::format("no JSON written: see logs/{}.log", r.name)
                             : std::string("not run (the sweep was interrupted, or its shard "
                                           "has not run here)");
            ++failed;
        } else {
            ojson j = ojson::parse(read_text(p), nullptr, false);
            if (j.is_discarded())
                throw std::invalid_argument(
                    fmt::format("run JSON '{}' is not valid JSON: rerun the sweep", p.string()));
            check_run_matches(j, r, p);
            if (j.value("status", "") != "ok") ++failed;
            e["result"] = std::move(j);
        }
        all[r.name] = std::move(e);
    }
    m["failed"] = failed;
    m["runs"] = std::move(all);
    m["sim"] = {{"wall_seconds", wall_seconds}, {"jobs", jobs}};
    return m;
}

} // namespace vmmu
