#include "engine/experiment/sensitivity.h"

#include "engine/experiment/process_pool.h"
#include "engine/experiment/scaling_study.h"

#include <fmt/format.h>

#include <csignal>
#include <filesystem>
#include <string>
#include <unistd.h>

namespace vmmu {
namespace fs = std::filesystem;

namespace {

// `params` with KEY=... replaced by KEY=value (appended if absent).
void set_param(std::vector<std::string>& params, const std::string& key, uint64_t value) {
    std::string prefix = key + "=";
    std::erase_if(params, [&](const std::string& p) { return p.rfind(prefix, 0) == 0; });
    params.push_back(fmt::format("{}{}", prefix, value));
}

} // namespace

SensitivityGrid run_sensitivity(const RunOptions& base, const StudyHost& host,
                                const RunDocument& document, unsigned jobs,
                                const std::function<void(size_t, size_t)>& progress) {
    SensitivityGrid g;
    const SensitivityAxes& a = g.axes;
    struct Cell {
        uint64_t bu, ws, tt;
        RunOptions options;
        StudyRun run;
        fs::path path;
    };
    std::vector<Cell> cells;
    fs::path dir = fs::temp_directory_path() / fmt::format("vmmu-sensitivity-{}", getpid());
    fs::create_directories(dir);
    for (uint64_t bu : a.burst_updates)
        for (uint64_t ws : a.ws_mib)
            for (uint64_t tt : a.think_ticks) {
                Cell c{bu, ws, tt, base, {}, dir / fmt::format("bu{}-ws{}-tt{}.json", bu, ws, tt)};
                set_param(c.options.params, "burst_updates", bu);
                set_param(c.options.params, "ws_mib", ws);
                set_param(c.options.params, "think_ticks", tt);
                set_param(c.options.params, "sessions", a.sessions);
                // The ratio needs shadow and slat only; the others would only cost time.
                std::erase_if(c.options.backends,
                              [](const std::string& b) { return b != "shadow" && b != "slat"; });
                c.run.sessions = a.sessions;
                cells.push_back(std::move(c));
            }
    // Heaviest first (most updates, largest working set): the long runs start early.
    std::vector<ChildJob> jobs_list(cells.size());
    auto cell_of = [&](size_t j) { return cells.size() - 1 - j; };
    for (size_t j = 0; j < jobs_list.size(); ++j) {
        Cell& c = cells[cell_of(j)];
        jobs_list[j].run = [&c, &document] { return run_study_child(c.options, c.path, document); };
    }
    size_t done = 0;
    PoolOptions po;
    po.jobs = jobs;
    po.death_signal = SIGKILL;
    po.on_finish = [&](size_t, const ChildStatus& s) { done += !s.stopped; };
    po.on_poll = [&] {
        if (progress) progress(done, cells.size());
    };
    PoolResult pool = run_pool(jobs_list, po);
    g.interrupted = pool.signal != 0;
    g.signal = pool.signal;
    for (size_t j = 0; j < jobs_list.size(); ++j) {
        Cell& c = cells[cell_of(j)];
        const ChildStatus& s = pool.children[j];
        if (!s.started || s.stopped)
            c.run.failure = "interrupted";
        else
            collect_study_run(c.run, c.path, s);
    }
    fs::remove_all(dir);

    for (const Cell& c : cells)
        for (double aps : a.actions_per_sec) {
            SensitivityPoint p;
            p.burst_updates = c.bu, p.ws_mib = c.ws, p.think_ticks = c.tt, p.actions_per_sec = aps;
            StudyHost h = host;
            h.actions_per_sec = aps;
            if (!run_usable(c.run)) {
                p.failure = c.run.failure.empty() ? "no usable run" : c.run.failure;
            } else {
                StudyCapacity cap = study_capacity({c.run}, h);
                const BackendCapacity* sh = cap.find("shadow");
                const BackendCapacity* sl = cap.find("slat");
                if (cap.ratio.measured && sh && sl) {
                    p.ratio = cap.ratio.slat_over_shadow;
                    p.shadow_sessions = sh->capacity.crossing;
                    p.slat_sessions = sl->capacity.crossing;
                    p.verdict = cap.ratio.verdict;
                    ++g.measured;
                    g.in_band += *p.ratio >= kPublishedLow && *p.ratio <= kPublishedHigh;
                } else {
                    p.failure = "no slat/shadow ratio (both backends needed)";
                }
            }
            g.points.push_back(std::move(p));
        }
    return g;
}

} // namespace vmmu
