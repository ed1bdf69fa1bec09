// `vmmu study scaling`: the sessions workload at each K, one child process per run (so Ctrl-C
// stops at once and the finished runs are kept), then the capacity model over the results.
#include "engine/cli/cli_errors.h"
#include "engine/cli/commands.h"
#include "engine/experiment/paths.h"
#include "engine/cli/progress.h"
#include "engine/experiment/run.h"
#include "engine/output/run_report.h"
#include "engine/experiment/run_flags.h"
#include "engine/experiment/study.h"
#include "engine/mmu/registry.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace vmmu {
namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

namespace {

// The study's K. K sessions need 3K+2 guest processes (init, top, and per session a login,
// an application and its helper); the teaching kernel has NPROC = 256 slots
// (workloads/kernel/kernel.h), so K is at most 84.
constexpr const char* kDefaultSessions = "1,2,4,8,16,32,64";
constexpr uint64_t kMaxSessions = (256 - 2) / 3;

volatile std::sig_atomic_t g_interrupted = 0;
void on_sigint(int) { g_interrupted = 1; }

std::vector<uint64_t> parse_sessions(const std::string& s) {
    std::vector<uint64_t> out;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ',')) {
        size_t used = 0;
        uint64_t k = 0;
        try {
            k = std::stoull(item, &used, 10);
        } catch (const std::exception&) {
            used = 0;
        }
        if (item.empty() || used != item.size() || k == 0 || item[0] == '-')
            throw std::invalid_argument(fmt::format(
                "--sessions '{}': '{}' is not a session count (a comma list of whole numbers "
                ">= 1, e.g. 1,2,4,8)",
                s, item));
        if (k > kMaxSessions)
            throw std::invalid_argument(fmt::format(
                "--sessions '{}': {} sessions need {} guest processes; the guest kernel has 256 "
                "process slots (at most {} sessions)",
                s, k, 3 * k + 2, kMaxSessions));
        out.push_back(k);
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    if (out.empty()) throw std::invalid_argument("--sessions: give at least one session count");
    return out;
}

struct Child {
    pid_t pid;
    size_t index;
};

// Child side: one run, written as vmmu.run/1 JSON to `path`; the exit code says how it went.
[[noreturn]] void run_child(const RunOptions& o, const fs::path& path, pid_t parent) {
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    // A study killed outright takes its runs with it (their results would be discarded anyway).
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    int rc = 1;
    try {
        RunOutput out = execute_run(o);
        write_file_atomic(path, run_json(out).dump(2) + "\n");
        rc = run_exit_code(out.result);
    } catch (const std::exception& e) {
        // Written like every other output, so the parent never reads half a reason.
        try {
            write_file_atomic(path.string() + ".err", std::string(e.what()) + "\n");
        } catch (const std::exception&) {
        }
    }
    std::fflush(nullptr);
    _exit(rc);
}

void collect(StudyRun& r, const fs::path& path, int status) {
    std::ifstream in(path);
    if (in) {
        try {
            r.run = nlohmann::json::parse(in);
        } catch (const std::exception& e) {
            r.failure = fmt::format("unreadable run JSON {}: {}", path.string(), e.what());
        }
    }
    if (!r.failure.empty()) return;
    if (!r.run.is_object()) {
        std::ifstream err(path.string() + ".err");
        std::string why((std::istreambuf_iterator<char>(err)), {});
        while (!why.empty() && why.back() == '\n') why.pop_back();
        r.failure = !why.empty()          ? why
                    : WIFSIGNALED(status) ? fmt::format("killed by signal {}", WTERMSIG(status))
                                          : fmt::format("exit code {}", WEXITSTATUS(status));
        fs::remove(path.string() + ".err");
        return;
    }
    if (r.run.value("status", std::string()) != "ok")
        r.failure = fmt::format(
            "run status {}: {} (guest exit status {})", r.run.value("status", std::string("?")),
            r.run["stop"].value("message", std::string()), r.run["stop"].value("exit_status", 0));
    else if (run_actions(r.run) == 0)
        r.failure = "the guest reported no completed session actions (sessions.apps)";
}

struct StudyFlags {
    RunFlags run;
    std::string sessions = kDefaultSessions;
    std::string shadow_profile, slat_profile;
    bool original_hardware = false;
    StudyHost host;
    double ghz = 0;
    unsigned jobs = std::min(2u, std::max(1u, std::thread::hardware_concurrency()));
    std::string json_path, out_dir;
};

int run_study(StudyFlags& f) {
    if (!f.json_path.empty()) check_output_file(f.json_path, "--json");
    if (!f.out_dir.empty()) check_output_dir(f.out_dir, "--out");
    RunOptions base = f.run.resolve();
    if (base.workload != "sessions")
        throw std::invalid_argument(fmt::format(
            "--workload '{}': the scaling study runs the sessions workload only", base.workload));
    for (auto& p : base.params)
        if (p.rfind("sessions=", 0) == 0)
            throw std::invalid_argument("--param sessions=...: use --sessions K1,K2,... instead");
    if (f.jobs == 0) throw std::invalid_argument("--jobs 0: give at least 1");
    std::vector<uint64_t> ks = parse_sessions(f.sessions);
    if (f.original_hardware) {
        base.backend_profile["shadow"] = "penryn-2008";
        base.backend_profile["slat"] = "nehalem-2009";
    }
    if (!f.shadow_profile.empty()) base.backend_profile["shadow"] = f.shadow_profile;
    if (!f.slat_profile.empty()) base.backend_profile["slat"] = f.slat_profile;
    // The study's sizes, unless the user set that parameter (--param) themselves.
    std::vector<std::string> params;
    for (auto& d : kStudyParams) {
        std::string key = d.substr(0, d.find('=') + 1);
        if (std::none_of(base.params.begin(), base.params.end(),
                         [&](const std::string& p) { return p.rfind(key, 0) == 0; }))
            params.push_back(d);
    }
    params.insert(params.end(), base.params.begin(), base.params.end());
    base.params = params;
    base.echo_console = false;

    // Check everything a child would reject, so bad input fails here with exit code 2.
    auto known = backend_names();
    StudyHost host = f.host;
    host.ghz_override = f.ghz;
    for (auto& b : base.backends) {
        if (std::find(known.begin(), known.end(), b) == known.end())
            throw std::invalid_argument(
                fmt::format("unknown backend '{}' (valid: {})", b, fmt::join(known, ", ")));
        auto it = base.backend_profile.find(b);
        Profile p = load_profile(it != base.backend_profile.end() ? it->second : base.profile,
                                 profile_dir());
        host.profile[b] = p.name;
        host.profile_ghz[b] = p.core_ghz;
    }
    HostModel check = host_model(host, base.backends.empty() ? "" : base.backends.front());
    check.ghz = check.ghz > 0 ? check.ghz : 1;
    sustainable_sessions({{1, 1.0}}, check); // validates cores, utilisation, actions/s
    auto catalogue = load_workloads(guest_dir());
    auto w = find_workload(catalogue, "sessions");
    auto with_k = [&](uint64_t k) {
        RunOptions o = base;
        o.params.push_back(fmt::format("sessions={}", k));
        resolve_params(w, o.params);
        return o;
    };
    for (uint64_t k : ks) with_k(k);

    bool keep_runs = !f.out_dir.empty();
    fs::path run_dir = keep_runs
                           ? fs::path(f.out_dir) / "runs"
                           : fs::temp_directory_path() / fmt::format("vmmu-study-{}", getpid());
    fs::create_directories(run_dir);
    std::vector<StudyRun> runs(ks.size());
    std::vector<fs::path> paths(ks.size());
    for (size_t i = 0; i < ks.size(); ++i) {
        runs[i].sessions = ks[i];
        // Named relative to the --out directory, where study.json lives.
        runs[i].run_file = fmt::format("runs/sessions-k{}.json", ks[i]);
        paths[i] = run_dir / fmt::format("sessions-k{}.json", ks[i]);
        fs::remove(paths[i]);
    }

    struct sigaction sa {};
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    struct sigaction old_int {
    }, old_term{};
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    g_interrupted = 0;

    auto start = std::chrono::steady_clock::now();
    ProgressBar bar("study scaling", ks.size());
    // Largest K first: the longest runs start early and the short ones fill in around them.
    std::vector<size_t> queue(ks.size());
    for (size_t i = 0; i < ks.size(); ++i) queue[i] = ks.size() - 1 - i;
    std::vector<Child> running;
    size_t done = 0;
    while ((!queue.empty() || !running.empty()) && !g_interrupted) {
        while (!queue.empty() && running.size() < f.jobs) {
            size_t i = queue.front();
            queue.erase(queue.begin());
            std::fflush(nullptr);
            pid_t self = getpid();
            pid_t pid = fork();
            if (pid < 0) throw std::runtime_error("fork failed");
            if (pid == 0) run_child(with_k(ks[i]), paths[i], self);
            running.push_back({pid, i});
        }
        std::string note = "running K=";
        for (auto& c : running) note += fmt::format("{} ", ks[c.index]);
        bar.update(done, note);
        int status = 0;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0) {
            usleep(200'000);
            continue;
        }
        auto it =
            std::find_if(running.begin(), running.end(), [&](auto& c) { return c.pid == pid; });
        if (it == running.end()) continue;
        collect(runs[it->index], paths[it->index], status);
        running.erase(it);
        ++done;
    }
    bool interrupted = g_interrupted != 0;
    for (auto& c : running) kill(c.pid, SIGTERM);
    for (auto& c : running) {
        waitpid(c.pid, nullptr, 0);
        runs[c.index].failure = "interrupted";
        fs::remove(paths[c.index]);
    }
    for (auto& i : queue) runs[i].failure = "interrupted";
    bar.finish();
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
    double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    if (!keep_runs)
        for (auto& r : runs) r.run_file.clear();
    ojson config = {{"workload", "sessions"},      {"sessions", ks},
                    {"params", base.params},       {"backends", base.backends},
                    {"profiles", host.profile},    {"guest_pages", base.guest_pages},
                    {"ept_pages", base.ept_pages}, {"pwc", base.pwc},
                    {"ntlb", base.ntlb},           {"timer_period", base.timer_period}};
    ojson study = study_json(runs, host, config, interrupted, wall);
    if (!keep_runs) fs::remove_all(run_dir);
    fmt::print("{}", study_table(study));
    fmt::print("sim: {:.1f} s wall for {} runs\n", wall, done);
    std::string json_path = f.json_path;
    if (json_path.empty() && keep_runs) json_path = (fs::path(f.out_dir) / "study.json").string();
    if (!json_path.empty()) {
        write_file_atomic(json_path, study.dump(2) + "\n");
        fmt::print("wrote {}\n", json_path);
    }
    if (interrupted) {
        fmt::print(stderr, "vmmu: study interrupted; kept {} finished run(s)\n", done);
        return 130;
    }
    return study["status"] == "ok" ? 0 : 3;
}

} // namespace

void add_study_command(CLI::App& app, Action& action) {
    auto* study = app.add_subcommand("study", "studies built from several runs");
    study->require_subcommand(1);
    auto* c = study->add_subcommand(
        "scaling", "sessions per host under each MMU scheme: the sessions workload at several K "
                   "and a host capacity model");
    auto f = std::make_shared<StudyFlags>();
    f->run.o.workload = "sessions";
    f->run.add(c);
    c->add_option("--sessions", f->sessions, "comma list of concurrent session counts K")
        ->capture_default_str();
    c->add_option("--shadow-profile", f->shadow_profile, "CPU profile of the shadow host");
    c->add_option("--slat-profile", f->slat_profile, "CPU profile of the slat host");
    c->add_flag("--original-hardware", f->original_hardware,
                "penryn-2008 for shadow vs nehalem-2009 for slat, as in the 2009 comparison");
    c->add_option("--cores", f->host.cores, "host cores C")->capture_default_str();
    c->add_option("--ghz", f->ghz, "host clock F in GHz for every backend (default: profile's)");
    c->add_option("--util", f->host.utilisation, "utilisation ceiling U (0-1]")
        ->capture_default_str();
    c->add_option("--actions-per-sec", f->host.actions_per_sec, "actions per second per user A")
        ->capture_default_str();
    c->add_option("--jobs", f->jobs, "runs at a time (child processes)")->capture_default_str();
    c->add_option("--json", f->json_path, "write the vmmu.study.scaling/1 JSON here")
        ->check(non_empty_path());
    c->add_option("--out", f->out_dir, "directory for study.json and runs/sessions-kK.json")
        ->check(non_empty_path());
    c->callback([f, &action] { action = [f] { return run_study(*f); }; });
}

} // namespace vmmu
