// The vmmu.multi/1 document and the text table of a several-VM run (multi_vm.h).
#include "engine/output/multi_report.h"

#include "engine/output/provenance_json.h"
#include "engine/output/run_report.h"

#include "engine/output/report_json.h"

#include <fmt/format.h>

namespace vmmu {
using ojson = nlohmann::ordered_json;

namespace {

std::string checksum(const RunOutput& run) {
    auto it = run.result.reported.find(run.workload.name + ".checksum");
    return it == run.result.reported.end() ? "none" : fmt::format("{:016x}", it->second);
}

} // namespace

ojson multi_json(const MultiOutput& out) {
    ojson j;
    j["schema"] = "vmmu.multi/1";
    j["status"] = multi_status(out);
    j["config"] = {{"vms", out.vms.size()},
                   {"quantum", out.options.quantum},
                   {"backends", out.vms.empty() ? std::vector<std::string>{}
                                                : out.vms[0].run.options.backends}};
    uint64_t instructions = 0, touched = 0, switches = 0;
    ojson vms = ojson::array();
    for (size_t i = 0; i < out.vms.size(); ++i) {
        const VmOutput& vm = out.vms[i];
        ojson v = run_json(vm.run);
        v["vm"] = {{"index", i},
                   {"quanta", vm.quanta},
                   {"world_switches", vm.world_switches},
                   {"host_range",
                    {{"base", fmt::format("{:#x}", vm.range.base)},
                     {"guest_end", fmt::format("{:#x}", vm.range.guest_end)},
                     {"end", fmt::format("{:#x}", vm.range.end)}}},
                   {"host_memory",
                    {{"frames_touched", vm.memory.frames_touched}, {"bytes", vm.memory.bytes()}}}};
        instructions += vm.run.result.guest.instructions;
        touched += vm.memory.frames_touched;
        switches += vm.world_switches;
        vms.push_back(std::move(v));
    }
    j["vms"] = std::move(vms);
    ojson totals;
    totals["guest_instructions"] = instructions;
    totals["world_switches"] = switches;
    totals["host_memory"] = {{"frames_touched", touched}, {"bytes", touched << 12}};
    if (!out.vms.empty() && out.vms[0].run.dedup) {
        const DedupResult& d = *out.vms[0].run.dedup;
        // Host frames in use at the end: what the VMs touched minus what sharing saved.
        totals["host_memory"]["frames_in_use"] = touched - d.host.frames_saved;
        totals["host_memory"]["frames_in_use_peak"] = out.frames_in_use_peak;
        ojson dj = dedup_json(d);
        dj.erase("vm");
        totals["dedup"] = std::move(dj);
    }
    ojson backends = ojson::object();
    for (auto& b : out.totals) {
        ojson bj = backend_json(b.counters, b.cycles);
        bj["profile"] = b.profile;
        backends[b.name] = std::move(bj);
    }
    totals["backends"] = std::move(backends);
    j["totals"] = std::move(totals);
    // The host's: every VM's inputs (each VM's own block is in vms[i].provenance).
    Provenance p = tool_provenance();
    for (auto& vm : out.vms) {
        p.inputs.insert(vm.run.provenance.inputs.begin(), vm.run.provenance.inputs.end());
        p.profile_sets = vm.run.provenance.profile_sets;
    }
    j["provenance"] = provenance_json(p, j["config"]);
    double mips = out.wall_seconds > 0 ? instructions / out.wall_seconds / 1e6 : 0;
    j["sim"] = {{"wall_seconds", out.wall_seconds}, {"guest_mips", mips}};
    return j;
}

std::string multi_table(const MultiOutput& out) {
    std::string s =
        fmt::format("{} VMs, quantum {} guest instructions\n", out.vms.size(), out.options.quantum);
    s += fmt::format("{:<4}{:<12}{:>18}{:>14}{:>10}{:>10}{:>12}  {}\n", "vm", "workload",
                     "checksum", "instructions", "quanta", "switches", "host MiB", "status");
    uint64_t touched = 0;
    for (size_t i = 0; i < out.vms.size(); ++i) {
        const VmOutput& vm = out.vms[i];
        touched += vm.memory.frames_touched;
        s += fmt::format("{:<4}{:<12}{:>18}{:>14}{:>10}{:>10}{:>12.1f}  {}\n", i,
                         vm.run.workload.name, checksum(vm.run), vm.run.result.guest.instructions,
                         vm.quanta, vm.world_switches, vm.memory.bytes() / 1048576.0,
                         run_status(vm.run.result));
    }
    s += fmt::format("host memory touched: {:.1f} MiB in total\n", (touched << 12) / 1048576.0);
    if (!out.vms.empty() && out.vms[0].run.dedup)
        s += dedup_table(*out.vms[0].run.dedup, out.totals);
    if (out.totals.empty()) return s;
    // Several VMs' regions do not line up: the table sums whole runs; each VM's windows and
    // intervals are in the JSON (vms[i].windows), the density study uses their measured ones.
    s += "window whole: each VM's whole run (per-VM windows and intervals: --json)\n";
    s += fmt::format("{:<22}", "totals over all VMs");
    for (auto& b : out.totals) s += fmt::format("{:>16}", b.name);
    s += "\n";
    auto row = [&](const std::string& label, auto f) {
        s += fmt::format("{:<22}", label);
        for (auto& b : out.totals) s += fmt::format("{:>16}", f(b));
        s += "\n";
    };
    auto detail = [](const BackendResult& b, const char* key) {
        auto it = b.counters.details.find(key);
        return fmt::format("{}", it == b.counters.details.end() ? 0 : it->second);
    };
    row("profile", [](const BackendResult& b) { return b.profile; });
    row("STLB misses",
        [](const BackendResult& b) { return fmt::format("{}", b.counters.tlb.stlb_misses); });
    row("walk refs",
        [](const BackendResult& b) { return fmt::format("{}", b.counters.walks.refs); });
    row("TLB flushes",
        [](const BackendResult& b) { return fmt::format("{}", b.counters.tlb.flushes); });
    row("VM exits",
        [](const BackendResult& b) { return fmt::format("{}", b.counters.exits.total()); });
    row("  world switches", [&](const BackendResult& b) { return detail(b, "world_switches"); });
    row("cycles (M)",
        [](const BackendResult& b) { return fmt::format("{:.2f}", b.cycles.total() / 1e6); });
    const BackendResult* native = nullptr;
    for (auto& b : out.totals)
        if (b.name == "native") native = &b;
    if (native && native->cycles.total() > 0)
        row("vs native", [&](const BackendResult& b) {
            return fmt::format("{:.3f}x", b.cycles.total() / native->cycles.total());
        });
    uint64_t instructions = 0;
    for (auto& vm : out.vms) instructions += vm.run.result.guest.instructions;
    double mips = out.wall_seconds > 0 ? instructions / out.wall_seconds / 1e6 : 0;
    s += fmt::format("sim: {:.2f} s wall, {:.1f} guest MIPS (all VMs)\n", out.wall_seconds, mips);
    return s;
}

} // namespace vmmu
