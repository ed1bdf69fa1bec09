#include "engine/experiment/scaling_study.h"

#include "engine/experiment/paths.h"
#include "engine/experiment/process_pool.h"
#include "engine/experiment/workloads.h"
#include "engine/mmu/profile.h"
#include "engine/mmu/registry.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <unistd.h>

namespace vmmu {
namespace fs = std::filesystem;

// Child side: one run, written as vmmu.run/1 JSON to `path`; the exit code says how it went.
int run_study_child(const RunOptions& o, const fs::path& path, const RunDocument& document) {
    try {
        RunOutput out = execute_run(o);
        write_file_atomic(path, document(out).dump(2) + "\n");
        return run_exit_code(out.result);
    } catch (const std::exception& e) {
        // Written like every other output, so the parent never reads half a reason.
        try {
            write_file_atomic(path.string() + ".err", std::string(e.what()) + "\n");
        } catch (const std::exception&) {
        }
    }
    return 1;
}

void collect_study_run(StudyRun& r, const fs::path& path, const ChildStatus& status) {
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
        r.failure = !why.empty()         ? why
                    : status.term_signal ? fmt::format("killed by signal {}", status.term_signal)
                                         : fmt::format("exit code {}", status.exit_code);
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

namespace {

// FNV-1a (64-bit) of a file's bytes: enough to tell two profile files apart in the record.
std::string fnv1a_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    uint64_t h = 0xcbf29ce484222325ull;
    for (char c; in.get(c);) {
        h ^= static_cast<unsigned char>(c);
        h *= 0x100000001b3ull;
    }
    return fmt::format("{:016x}", h);
}

ProfileSource profile_source(const std::string& backend, const std::string& given,
                             const Profile& p) {
    ProfileSource src;
    src.backend = backend;
    src.name = p.name;
    fs::path arg(given);
    // load_profile's own rule for "a path, not a name" (engine/mmu/profile.cpp).
    if (!arg.has_parent_path() && arg.extension() != ".json") return src;
    src.file = true;
    src.path = fs::absolute(arg).lexically_normal().string();
    src.fnv1a64 = fnv1a_file(arg);
    return src;
}

// The run flags with the study's profiles and sizes; throws on anything a child would reject,
// so bad input fails before any run with exit code 2.
RunOptions study_base(const ScalingOptions& f, StudyHost& host, std::vector<uint64_t>& ks,
                      std::vector<ProfileSource>& profiles) {
    RunOptions base = f.base;
    if (base.workload != "sessions")
        throw std::invalid_argument(fmt::format(
            "--workload '{}': the scaling study runs the sessions workload only", base.workload));
    for (auto& p : base.params)
        if (p.rfind("sessions=", 0) == 0)
            throw std::invalid_argument("--param sessions=...: use --sessions K1,K2,... instead");
    if (f.jobs == 0) throw std::invalid_argument("--jobs 0: give at least 1");
    ks = parse_sessions(f.sessions);
    if (f.hyperv_2008_vs_r2) {
        // The pair is fixed: nothing of it may be tuned from the command line.
        if (!f.shadow_profile.empty() || !f.slat_profile.empty())
            throw std::invalid_argument(
                "--hyperv-2008-vs-r2 fixes the profiles (penryn-2008 for shadow, nehalem-2009 for "
                "slat): drop --shadow-profile / --slat-profile, or run the study without it");
        if (!base.profile_sets.empty())
            throw std::invalid_argument(fmt::format(
                "--hyperv-2008-vs-r2 fixes the profiles: drop --set {} (or run the study without "
                "the preset)",
                base.profile_sets.front()));
        if (base.hypervisor != "none" && base.hypervisor != "hyperv")
            throw std::invalid_argument(
                fmt::format("--hyperv-2008-vs-r2 with --hypervisor {}: the pair is Hyper-V's (drop "
                            "--hypervisor)",
                            base.hypervisor));
        base.hypervisor = "hyperv";
        for (const char* b : {"shadow", "slat"})
            if (std::find(base.backends.begin(), base.backends.end(), b) == base.backends.end())
                throw std::invalid_argument(fmt::format(
                    "--hyperv-2008-vs-r2 compares shadow with slat: --backends must include {}",
                    b));
    }
    if (f.original_hardware || f.hyperv_2008_vs_r2) {
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

    auto known = backend_names();
    host = f.host;
    host.ghz_override = f.ghz;
    for (auto& b : base.backends) {
        if (std::find(known.begin(), known.end(), b) == known.end())
            throw std::invalid_argument(
                fmt::format("unknown backend '{}' (valid: {})", b, fmt::join(known, ", ")));
        auto it = base.backend_profile.find(b);
        std::string given = it != base.backend_profile.end() ? it->second : base.profile;
        Profile p = load_profile(given, profile_dir(), base.profile_sets);
        profiles.push_back(profile_source(b, given, p));
        host.profile[b] = p.name;
        host.profile_ghz[b] = p.core_ghz;
    }
    HostModel check = host_model(host, base.backends.empty() ? "" : base.backends.front());
    check.ghz = check.ghz > 0 ? check.ghz : 1;
    sustainable_sessions({{1, 1.0}}, check); // validates cores, utilisation, actions/s
    return base;
}

} // namespace

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

ScalingStudy run_scaling_study(const ScalingOptions& f, const RunDocument& document,
                               const ScalingProgress& progress) {
    StudyHost host;
    std::vector<uint64_t> ks;
    std::vector<ProfileSource> profiles;
    RunOptions base = study_base(f, host, ks, profiles);
    auto catalogue = load_workloads(guest_dir());
    auto w = find_workload(catalogue, "sessions");
    std::vector<RunOptions> options;
    for (uint64_t k : ks) {
        RunOptions o = base;
        o.params.push_back(fmt::format("sessions={}", k));
        resolve_params(w, o.params);
        options.push_back(std::move(o));
    }
    // The runs differ only in K (checked above): one check covers the flags of them all.
    check_run_options(options.front());

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

    // Largest K first: the longest runs start early and the short ones fill in around them.
    std::vector<ChildJob> jobs(ks.size());
    auto k_of = [&](size_t job) { return ks.size() - 1 - job; };
    for (size_t j = 0; j < jobs.size(); ++j) {
        size_t i = k_of(j);
        jobs[j].run = [&, i] { return run_study_child(options[i], paths[i], document); };
    }
    ScalingStudy result;
    std::vector<uint64_t> running;
    PoolOptions po;
    po.jobs = f.jobs;
    // A study killed outright takes its runs with it (their results would be discarded anyway).
    po.death_signal = SIGKILL;
    po.on_start = [&](size_t j) { running.push_back(ks[k_of(j)]); };
    po.on_finish = [&](size_t j, const ChildStatus& s) {
        running.erase(std::find(running.begin(), running.end(), ks[k_of(j)]));
        if (!s.stopped) ++result.finished;
    };
    po.on_poll = [&] {
        if (progress) progress(result.finished, ks.size(), running);
    };
    auto start = std::chrono::steady_clock::now();
    PoolResult pool = run_pool(jobs, po);
    result.interrupted = pool.signal != 0;
    result.signal = pool.signal;
    for (size_t j = 0; j < jobs.size(); ++j) {
        size_t i = k_of(j);
        const ChildStatus& s = pool.children[j];
        if (!s.started || s.stopped) {
            runs[i].failure = "interrupted";
            fs::remove(paths[i]);
        } else {
            collect_study_run(runs[i], paths[i], s);
        }
    }
    result.wall_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    if (!keep_runs)
        for (auto& r : runs) r.run_file.clear();
    result.status = study_status(runs, result.interrupted);
    result.runs = std::move(runs);
    result.host = std::move(host);
    if ((f.sensitivity || f.hyperv_2008_vs_r2) && !result.interrupted) {
        result.sensitivity =
            run_sensitivity(base, result.host, document, f.jobs, [&](size_t done, size_t total) {
                if (progress) progress(done, total, {});
            });
        result.interrupted = result.sensitivity->interrupted;
        result.signal = result.sensitivity->signal;
        result.wall_seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
    result.config = {std::move(ks), std::move(base), std::move(profiles),
                     f.hyperv_2008_vs_r2 ? kHypervPreset : ""};
    if (!keep_runs) fs::remove_all(run_dir);
    return result;
}

} // namespace vmmu
