#include "engine/experiment/multi_vm.h"

#include "engine/host/frame_tracker.h"
#include "engine/host/vm_scheduler.h"
#include "engine/experiment/run_flags.h"
#include "engine/experiment/scenario.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <memory>
#include <stdexcept>

namespace vmmu {
namespace {

bool is_bad(const VmOutput& vm) { return run_exit_code(vm.run.result) != 0; }

} // namespace

MultiOutput execute_multi(const MultiOptions& options) {
    if (options.vms.empty()) throw std::invalid_argument("--vms: give at least 1 VM");
    if (options.quantum == 0)
        throw std::invalid_argument("--quantum 0: give at least 1 guest instruction per quantum");
    for (size_t i = 1; i < options.vms.size(); ++i)
        if (options.vms[i].backends != options.vms[0].backends)
            throw std::invalid_argument(fmt::format(
                "VM {} asks for backends {} but VM 0 for {}: every VM needs the same backends "
                "(the host runs one hypervisor); set the same \"backends\" in every VM",
                i, fmt::join(options.vms[i].backends, ","),
                fmt::join(options.vms[0].backends, ",")));
    auto start = std::chrono::steady_clock::now();
    MultiOutput out;
    out.options = options;
    std::vector<uint64_t> sizes;
    for (auto& o : options.vms) sizes.push_back(o.guest_mib << 20);
    auto layout = host_layout(sizes);

    // One host: every VM's frames have their owner in one map; one scanner if deduplicating.
    const RunOptions& first = options.vms[0];
    for (size_t i = 1; i < options.vms.size(); ++i) {
        const RunOptions& o = options.vms[i];
        if (o.dedup != first.dedup || o.dedup_period != first.dedup_period ||
            o.dedup_pages != first.dedup_pages)
            throw std::invalid_argument(fmt::format(
                "VM {} asks for different deduplication settings than VM 0: the host runs one "
                "scanner; give every VM the same dedup, dedup_period and dedup_pages",
                i));
    }
    auto frames = std::make_shared<HostFrames>(layout);
    std::unique_ptr<Deduplicator> dedup;
    if (first.dedup) {
        check_dedup_options(first);
        dedup = std::make_unique<Deduplicator>(*frames,
                                               DedupConfig{first.dedup_period, first.dedup_pages});
    }

    std::vector<std::unique_ptr<PreparedRun>> runs;
    std::vector<FrameTracker*> trackers;
    for (size_t i = 0; i < options.vms.size(); ++i) {
        RunOptions o = options.vms[i];
        o.echo_console = false; // interleaved consoles would be unreadable
        HostSlot slot{frames, static_cast<int>(i), {}};
        if (dedup)
            slot.on_shared_write = [d = dedup.get(), i](GuestPhys pa) { d->break_on_write(i, pa); };
        runs.push_back(prepare_run(o, &slot));
        trackers.push_back(&track_frames(*runs.back(), dedup.get()));
        VmOutput vm;
        vm.range = layout[i];
        out.vms.push_back(std::move(vm));
    }

    auto sample_in_use = [&] {
        uint64_t touched = 0;
        for (FrameTracker* t : trackers) touched += t->frames_touched();
        out.frames_in_use_peak =
            std::max(out.frames_in_use_peak, touched - dedup->counters().frames_saved);
    };

    std::vector<ScheduledVm> scheduled;
    for (auto& run : runs) {
        ScheduledVm vm{run->machine.get(), &run->out.result, {}};
        for (auto& b : run->backends) vm.observers.push_back(b.get());
        scheduled.push_back(std::move(vm));
    }
    // The scanner's period counts guest instructions of every VM (host time).
    run_round_robin(scheduled, options.quantum, [&](uint64_t ran) {
        if (!dedup) return;
        sample_in_use();
        dedup->advance(ran);
    });

    if (dedup) sample_in_use();
    for (size_t i = 0; i < runs.size(); ++i) {
        PreparedRun& p = *runs[i];
        // A VM left unfinished by an interrupt reports itself incomplete.
        if (!scheduled[i].done) p.out.result.stop = StopKind::Interrupted;
        out.vms[i].quanta = scheduled[i].quanta;
        out.vms[i].world_switches = scheduled[i].world_switches;
        collect_backends(p, dedup.get(), i);
        out.vms[i].memory.frames_touched = trackers[i]->frames_touched();
        out.vms[i].run = std::move(p.out);
    }
    for (size_t b = 0; b < out.vms[0].run.backends.size(); ++b) {
        BackendResult total = out.vms[0].run.backends[b];
        total.counters = {};
        total.cycles = {};
        for (auto& vm : out.vms) {
            const BackendResult& r = vm.run.backends[b];
            total.counters += r.counters;
            total.cycles.base += r.cycles.base, total.cycles.walk += r.cycles.walk;
            total.cycles.exit += r.cycles.exit, total.cycles.handler += r.cycles.handler;
            total.cycles.data += r.cycles.data;
            for (size_t d = 0; d < total.cycles.walk_refs_by_dimension.size(); ++d)
                total.cycles.walk_refs_by_dimension[d] += r.cycles.walk_refs_by_dimension[d];
        }
        out.totals.push_back(std::move(total));
    }
    out.wall_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return out;
}

MultiOptions load_vms_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::invalid_argument(fmt::format("--vms-file {}: cannot open", path));
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::parse_error& e) {
        throw std::invalid_argument(
            fmt::format("--vms-file {}: not valid JSON: {}", path, e.what()));
    }
    auto fail = [&](const std::string& what) {
        throw std::invalid_argument(fmt::format("--vms-file {}: {}", path, what));
    };
    if (!j.is_object()) fail("expected an object {\"schema\": \"vmmu.vms/1\", \"vms\": [...]}");
    for (auto& [k, v] : j.items())
        if (k != "schema" && k != "quantum" && k != "vms")
            fail(fmt::format("unknown key '{}' (valid: schema, quantum, vms)", k));
    if (j.value("schema", "") != "vmmu.vms/1") fail("schema: must be \"vmmu.vms/1\"");
    MultiOptions m;
    if (j.contains("quantum")) {
        if (!j["quantum"].is_number_unsigned() || j["quantum"].get<uint64_t>() == 0)
            fail("quantum: must be a whole number of guest instructions >= 1");
        m.quantum = j["quantum"].get<uint64_t>();
    }
    if (!j.contains("vms") || !j["vms"].is_array() || j["vms"].empty())
        fail("vms: must be a non-empty list of vmmu.scenario/1 objects");
    for (size_t i = 0; i < j["vms"].size(); ++i)
        m.vms.push_back(
            parse_run_args(scenario_args(j["vms"][i], fmt::format("{} vms[{}]", path, i))));
    return m;
}

int multi_exit_code(const MultiOutput& out) {
    int worst = 0;
    for (auto& vm : out.vms) {
        int c = run_exit_code(vm.run.result);
        if (c == 130 || (worst != 130 && c > worst)) worst = c;
    }
    return worst;
}

std::string multi_status(const MultiOutput& out) {
    for (auto& vm : out.vms)
        if (is_bad(vm)) return run_status(vm.run.result);
    return "ok";
}

} // namespace vmmu
