// Several vCPUs in the results: every counter split by the vCPU that ran when it was counted
// (engine/experiment/windows.h), sample points on the VM's instruction count (--interval,
// --warmup), and the oracle on every vCPU's translations. The guest is the two-CPU probe kernel
// (tests/guests/smp_probe.c), installed as the kernel of a guest directory whose manifest names
// its modes as workloads.
#include "engine/core/machine.h"
#include "engine/experiment/multi_vm.h"
#include "engine/experiment/run.h"
#include "engine/host/p2m.h"
#include "engine/mmu/backend.h"
#include "engine/mmu/machine_env.h"
#include "engine/mmu/profile.h"
#include "engine/mmu/registry.h"
#include "engine/output/multi_report.h"
#include "engine/output/run_report.h"
#include "vmmu/abi.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <unistd.h>

namespace vmmu {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;

std::string fmt_dir() { return "vmmu_smp_report_" + std::to_string(::getpid()); }

// A guest directory whose kernel is the SMP probe and whose workloads are its modes.
const fs::path& probe_guest() {
    static const fs::path dir = [] {
        fs::path d = fs::temp_directory_path() / fmt_dir();
        fs::remove_all(d);
        fs::create_directories(d / "programs");
        fs::copy_file(VMMU_GUEST_DIR "/tests/smp_probe.elf", d / "kernel.elf");
        json m = {{"workloads", json::array()}};
        for (const char* w : {"work", "shootdown", "ipi", "ticks", "roi"})
            m["workloads"].push_back({{"name", w}, {"params", json::array()}});
        std::ofstream(d / "manifest.json") << m.dump();
        return d;
    }();
    return dir;
}
RunOptions smp_options(const std::string& mode, unsigned vcpus, uint64_t quantum = 1000) {
    setenv("VMMU_GUEST_DIR", probe_guest().c_str(), 1);
    RunOptions o;
    o.workload = mode;
    o.backends = {"native", "ideal"};
    o.guest_mib = 64;
    o.timer_period = 100'000;
    o.max_instructions = 200'000'000;
    o.vcpus = vcpus;
    o.vcpu_quantum = quantum;
    return o;
}

// Every count in `total` equals the sum of that count over `parts`: numbers only, leaving out
// ratios (per walk), which do not add up, and the vCPU index.
void expect_sums(const json& total, const std::vector<json>& parts, const std::string& where) {
    for (auto& [k, v] : total.items()) {
        if (k == "vcpus" || k == "vcpu" || k == "refs_per_walk" || k == "walk_cycles_per_walk" ||
            k == "max_refs_per_walk" || k == "profile" || k == "reported" ||
            k == "context_switches") // the kernel's report: the VM's only
            continue;
        std::vector<json> sub;
        for (auto& p : parts) {
            ASSERT_TRUE(p.contains(k)) << where << "." << k;
            sub.push_back(p[k]);
        }
        if (v.is_object()) {
            expect_sums(v, sub, where + "." + k);
        } else if (v.is_number_unsigned() || v.is_number_integer()) {
            uint64_t sum = 0;
            for (auto& s : sub) sum += s.get<uint64_t>();
            EXPECT_EQ(sum, v.get<uint64_t>()) << where << "." << k;
        } else if (v.is_number_float()) {
            double sum = 0;
            for (auto& s : sub) sum += s.get<double>();
            EXPECT_NEAR(sum, v.get<double>(), 1e-6 * std::max(1.0, std::abs(v.get<double>())))
                << where << "." << k;
        }
    }
}

void expect_split_sums(const json& guest, const json& backends, const std::string& where) {
    ASSERT_TRUE(guest.contains("vcpus")) << where;
    std::vector<json> gs(guest["vcpus"].begin(), guest["vcpus"].end());
    expect_sums(guest, gs, where + ".guest");
    for (auto& [name, b] : backends.items()) {
        ASSERT_TRUE(b.contains("vcpus")) << where << "." << name;
        std::vector<json> bs(b["vcpus"].begin(), b["vcpus"].end());
        expect_sums(b, bs, where + "." + name);
    }
}

TEST(SmpReport, EveryCountSplitByVcpuSumsToTheVmTotals) {
    RunOutput out = execute_run(smp_options("shootdown", 2));
    ASSERT_EQ(out.result.stop, StopKind::Exited) << out.result.message;
    json j = json::parse(run_json(out).dump());
    ASSERT_EQ(j["guest"]["vcpus"].size(), 2u);
    ASSERT_EQ(j["backends"]["native"]["vcpus"].size(), 2u);
    expect_split_sums(j["guest"], j["backends"], "run");
    expect_split_sums(j["windows"]["whole"]["guest"], j["windows"]["whole"]["backends"], "whole");
    // Both vCPUs ran, and each backend saw work on both.
    for (int v = 0; v < 2; ++v) {
        EXPECT_GT(j["guest"]["vcpus"][v]["instructions"].get<uint64_t>(), 0u) << v;
        EXPECT_GT(j["backends"]["native"]["vcpus"][v]["tlb"]["l1i_lookups"].get<uint64_t>(), 0u);
    }
    // Hand count (smp_probe.c, "shootdown"): CPU 0 sends the one IPI, CPU 1 receives it.
    EXPECT_EQ(j["guest"]["vcpus"][0]["ipis_sent"], 1);
    EXPECT_EQ(j["guest"]["vcpus"][1]["ipis_received"], 1);
    EXPECT_EQ(j["guest"]["vcpus"][1]["ipis_sent"], 0);
}

TEST(SmpReport, TheSplitFollowsTheVcpuThatCountedNotTheTurnOrder) {
    // Native looks up the dTLB once per data access (every access, on its own vCPU): if the
    // split attributed a turn's counts to the wrong vCPU, lookups and accesses would part.
    for (uint64_t q : {1u, 37u, 10'000u}) {
        RunOutput out = execute_run(smp_options("shootdown", 2, q));
        ASSERT_EQ(out.result.stop, StopKind::Exited) << out.result.message;
        const auto& v = out.windows.vcpus;
        ASSERT_EQ(v.size(), 2u);
        for (size_t i = 0; i < 2; ++i)
            EXPECT_EQ(v[i].backends[0].tlb.l1d_lookups, v[i].guest.data_accesses)
                << "quantum " << q << " vcpu " << i;
        EXPECT_EQ(v[0].backends[0].tlb.l1d_lookups + v[1].backends[0].tlb.l1d_lookups,
                  out.backends[0].counters.tlb.l1d_lookups);
    }
}

TEST(SmpReport, OneVcpuDocumentsHaveNoSplit) {
    RunOutput out = execute_run(smp_options("work", 1));
    ASSERT_EQ(out.result.stop, StopKind::Exited) << out.result.message;
    json j = json::parse(run_json(out).dump());
    EXPECT_FALSE(j["guest"].contains("vcpus"));
    EXPECT_FALSE(j["guest"].contains("ipis_sent"));
    EXPECT_FALSE(j["backends"]["native"].contains("vcpus"));
    EXPECT_FALSE(j["windows"]["whole"]["guest"].contains("vcpus"));
    EXPECT_TRUE(out.windows.vcpus.empty());
}

TEST(SmpReport, IntervalsOnTheVmsInstructionsAreExactAndSumToTheWholeRun) {
    constexpr uint64_t kPeriod = 1'000'000;
    auto run = [&] {
        RunOptions o = smp_options("work", 4, 997);
        o.backends = {"native"};
        o.interval = kPeriod;
        o.warmup = 3 * kPeriod + 12'345;
        return execute_run(o);
    };
    RunOutput a = run(), b = run();
    ASSERT_EQ(a.result.stop, StopKind::Exited) << a.result.message;
    const auto& pts = a.windows.intervals;
    ASSERT_GT(pts.size(), 10u);
    SpanCounters sum = pts.front().counters;
    for (size_t i = 1; i < pts.size(); ++i) {
        EXPECT_EQ(pts[i].start, pts[i - 1].end);
        sum += pts[i].counters;
    }
    for (size_t i = 0; i + 1 < pts.size(); ++i) {
        EXPECT_EQ(pts[i].end % kPeriod, 0u) << i;
        EXPECT_EQ(pts[i].counters.guest.instructions, pts[i].end - pts[i].start) << i;
        uint64_t split = 0;
        for (auto& v : pts[i].counters.vcpus) split += v.guest.instructions;
        EXPECT_EQ(split, pts[i].end - pts[i].start) << i;
    }
    EXPECT_EQ(pts.back().end, a.result.guest.instructions);
    EXPECT_EQ(sum.guest.instructions, a.result.guest.instructions);
    EXPECT_EQ(sum.backends[0].tlb.l1i_lookups, a.backends[0].counters.tlb.l1i_lookups);
    EXPECT_EQ(sum.backends[0].walks.walks, a.backends[0].counters.walks.walks);
    // Warm-up ends exactly at its instruction, and the whole window is the rest.
    const Window& whole = a.windows.windows.at("whole");
    EXPECT_EQ(whole.first, 3 * kPeriod + 12'345);
    EXPECT_EQ(whole.counters.guest.instructions, a.result.guest.instructions - whole.first);
    // In the document, each point's per-vCPU instructions and cycles sum to the point's.
    json doc = json::parse(run_json(a).dump());
    for (auto& p : doc["intervals"]["points"]) {
        ASSERT_EQ(p["vcpus"].size(), 4u);
        uint64_t n = 0;
        double cycles = 0;
        for (auto& v : p["vcpus"]) {
            n += v["instructions"].get<uint64_t>();
            cycles += v["cycles"]["native"].get<double>();
        }
        EXPECT_EQ(n, p["guest"]["instructions"].get<uint64_t>());
        EXPECT_NEAR(cycles, p["backends"]["native"]["cycles"].get<double>(), 1e-3);
    }
    // Bit-identical rerun.
    ASSERT_EQ(b.windows.intervals.size(), pts.size());
    EXPECT_EQ(json::parse(run_json(a).dump())["intervals"],
              json::parse(run_json(b).dump())["intervals"]);
    EXPECT_EQ(json::parse(run_json(a).dump())["windows"],
              json::parse(run_json(b).dump())["windows"]);
}

TEST(SmpReport, ARegionSpanningEveryVcpuIsSplitByVcpuAndSumsToItsSpan) {
    // smp_probe.c "roi": CPU 0 opens "par", all four CPUs compute a share, CPU 0 closes it.
    RunOptions o = smp_options("roi", 4, 5000);
    o.backends = {"native"};
    RunOutput out = execute_run(o);
    ASSERT_EQ(out.result.stop, StopKind::Exited) << out.result.message;
    ASSERT_EQ(out.measured_window, "roi");
    const Window& par = out.windows.windows.at("par");
    EXPECT_EQ(par.counters.guest.instructions, par.last - par.first);
    ASSERT_EQ(par.counters.vcpus.size(), 4u);
    for (size_t v = 0; v < 4; ++v)
        // Each CPU's share: 1 M / 4 passes of a 5-instruction loop, and more.
        EXPECT_GT(par.counters.vcpus[v].guest.instructions, 5u * 250'000) << v;
    json j = json::parse(run_json(out).dump());
    expect_split_sums(j["windows"]["par"]["guest"], j["windows"]["par"]["backends"], "par");
    expect_split_sums(j["windows"]["roi"]["guest"], j["windows"]["roi"]["backends"], "roi");
}

// A document without its host-time parts ("sim", "wall_seconds"), which differ between reruns.
json without_sim(json j) {
    if (j.is_object()) {
        j.erase("sim");
        j.erase("wall_seconds");
        for (auto& [k, v] : j.items()) v = without_sim(v);
    } else if (j.is_array()) {
        for (auto& v : j) v = without_sim(v);
    }
    return j;
}

TEST(SmpReport, SeveralVmsOfSeveralVcpusRunAsEachAloneAndRerunIdentically) {
    MultiOptions m;
    m.vms = {smp_options("shootdown", 2, 500), smp_options("ipi", 2, 300)};
    m.quantum = 300; // VM switches inside the vCPUs' turns
    MultiOutput a = execute_multi(m), b = execute_multi(m);
    ASSERT_EQ(a.vms.size(), 2u);
    for (size_t v = 0; v < 2; ++v) {
        const RunOutput& r = a.vms[v].run;
        ASSERT_EQ(r.result.stop, StopKind::Exited) << v << ": " << r.result.message;
        EXPECT_GT(a.vms[v].world_switches, 0u) << v;
        // The guest runs as it does alone: same instructions, same reported values.
        RunOutput alone = execute_run(m.vms[v]);
        EXPECT_EQ(r.result.guest.instructions, alone.result.guest.instructions) << v;
        EXPECT_EQ(r.result.reported, alone.result.reported) << v;
        json j = json::parse(run_json(r).dump());
        expect_split_sums(j["guest"], j["backends"], "vm" + std::to_string(v));
        EXPECT_GT(j["guest"]["vcpus"][1]["instructions"].get<uint64_t>(), 0u) << v;
    }
    EXPECT_EQ(a.vms[0].run.result.reported.at("stale.cpu1_second"), 222u);
    EXPECT_EQ(a.vms[1].run.result.reported.at("ipi.cpu1"), 3u);
    EXPECT_EQ(without_sim(json::parse(multi_json(a).dump())),
              without_sim(json::parse(multi_json(b).dump())));
}

TEST(SmpReport, DeduplicationUnderSeveralVcpusLeavesTheGuestAloneAndRerunsIdentically) {
    RunOptions o = smp_options("shootdown", 2, 700);
    o.dedup = true;
    o.dedup_period = 5000; // scanner passes between the vCPUs' turns
    RunOutput a = execute_run(o), b = execute_run(o);
    ASSERT_EQ(a.result.stop, StopKind::Exited) << a.result.message;
    ASSERT_TRUE(a.dedup);
    EXPECT_GT(a.dedup->host.passes, 0u);
    RunOutput plain = execute_run(smp_options("shootdown", 2, 700));
    EXPECT_EQ(a.result.reported, plain.result.reported);
    EXPECT_EQ(a.result.guest.instructions, plain.result.guest.instructions);
    EXPECT_EQ(without_sim(json::parse(run_json(a).dump())),
              without_sim(json::parse(run_json(b).dump())));
}

// Counts what each vCPU's events reach, and checks it at every sample point against the
// machine's own split there.
class PerVcpuCount : public GuestObserver {
public:
    bool models_vcpus() const override { return true; }
    void on_vcpu_switch(unsigned i) override { cur = i; }
    void on_access(const DataAccess&) override { ++accesses[cur]; }
    unsigned cur = 0;
    uint64_t accesses[VMMU_MAX_CPUS] = {};
};

TEST(SmpReport, ASamplePointFallsExactlyOnTheVmsInstructionCount) {
    for (uint64_t q : {1u, 100u, 10'000u}) {
        MachineConfig c;
        c.kernel_path = VMMU_GUEST_DIR "/tests/smp_probe.elf";
        c.cmdline = "shootdown";
        c.guest_bytes = uint64_t{64} << 20;
        c.timer_period = 100'000;
        c.max_instructions = 20'000'000;
        c.vcpus = 2;
        c.vcpu_quantum = q;
        c.sample_period = 333;
        Machine m(c);
        PerVcpuCount seen;
        m.attach(seen);
        uint64_t samples = 0, last = 0;
        m.on_boundary([&](const Boundary& b) {
            if (b.kind != Boundary::Kind::Sample) return;
            ++samples;
            EXPECT_EQ(b.guest.instructions, last + 333) << "quantum " << q;
            last = b.guest.instructions;
            ASSERT_EQ(b.vcpus.size(), 2u);
            GuestCounters sum;
            for (unsigned i = 0; i < 2; ++i) {
                sum += b.vcpus[i];
                EXPECT_EQ(b.vcpus[i].data_accesses, seen.accesses[i]) << "quantum " << q;
            }
            EXPECT_EQ(sum.instructions, b.guest.instructions);
        });
        RunResult r = m.run();
        ASSERT_EQ(r.stop, StopKind::Exited) << r.message;
        EXPECT_EQ(samples, r.guest.instructions / 333) << "quantum " << q;
    }
}

// Forwards every event to a real backend, but hides vCPU `blind`'s invlpg from it: the backend's
// TLB of that vCPU keeps the old translation, which the oracle must catch there.
class HideInvlpg : public GuestObserver {
public:
    HideInvlpg(Backend& b, unsigned blind) : b_(b), blind_(blind) {}
    bool models_vcpus() const override { return b_.models_vcpus(); }
    void on_vcpu_start(unsigned i) override { b_.on_vcpu_start(i); }
    void on_vcpu_switch(unsigned i) override {
        cur_ = i;
        b_.on_vcpu_switch(i);
    }
    void on_access(const DataAccess& a) override { b_.on_access(a); }
    void on_fetch(const Fetch& f) override { b_.on_fetch(f); }
    void on_loop_repeats(std::span<const BlockEvents> body, uint64_t k) override {
        b_.on_loop_repeats(body, k);
    }
    void on_cr3_write(uint64_t rip, uint64_t v) override { b_.on_cr3_write(rip, v); }
    void on_cr4_write(uint64_t rip, uint64_t v) override { b_.on_cr4_write(rip, v); }
    void on_invlpg(uint64_t rip, GuestVirt va) override {
        if (cur_ != blind_) b_.on_invlpg(rip, va);
    }
    void on_pt_write(uint64_t rip, GuestPhys pa, uint64_t o, uint64_t n, uint8_t s) override {
        b_.on_pt_write(rip, pa, o, n, s);
    }
    void on_guest_fault(uint64_t rip, uint8_t v, GuestVirt cr2, uint32_t e) override {
        b_.on_guest_fault(rip, v, cr2, e);
    }
    void on_timer(uint64_t rip) override { b_.on_timer(rip); }
    void on_syscall(uint64_t rip) override { b_.on_syscall(rip); }
    void on_hlt(uint64_t rip) override { b_.on_hlt(rip); }
    void on_io(uint64_t rip, uint16_t p, bool w) override { b_.on_io(rip, p, w); }
    void on_ipi_send(uint64_t rip, uint16_t p, uint8_t v, uint32_t d) override {
        b_.on_ipi_send(rip, p, v, d);
    }
    void on_eoi(uint64_t rip, uint16_t p) override { b_.on_eoi(rip, p); }
    void on_ipi_receive(uint64_t rip, uint8_t v) override { b_.on_ipi_receive(rip, v); }
    void on_sensitive(uint64_t rip, std::string_view m) override { b_.on_sensitive(rip, m); }

private:
    Backend& b_;
    unsigned blind_, cur_ = 0;
};

struct OracleRun {
    RunResult result;
    unsigned stopped_on = 0;
};

OracleRun oracle_run(const std::string& backend, unsigned blind) {
    MachineConfig c;
    c.kernel_path = VMMU_GUEST_DIR "/tests/smp_probe.elf";
    c.cmdline = "stale";
    c.guest_bytes = uint64_t{64} << 20;
    c.timer_period = 100'000;
    c.max_instructions = 20'000'000;
    c.vcpus = 2;
    c.vcpu_quantum = 1000;
    Machine m(c);
    Profile prof = load_profile("nehalem-2009", fs::path(VMMU_SOURCE_DIR) / "workloads/profiles");
    P2m p2m(HostPhys(uint64_t{4} << 30));
    BackendEnv env = backend_env_for(m, p2m, nullptr, 0);
    env.profile = &prof;
    env.oracle = true;
    std::unique_ptr<Backend> b = create_backend(backend, env);
    HideInvlpg hide(*b, blind);
    m.attach(hide);
    OracleRun o{m.run(), 0};
    o.stopped_on = m.current_vcpu();
    return o;
}

TEST(SmpReport, TheOracleChecksEveryVcpusTranslations) {
    // In "stale", CPU 1 invalidates the page CPU 0 remapped and reads it again: only its own
    // read disagrees when its invlpg is hidden, so an oracle on CPU 0 alone would pass.
    // native keeps a TLB per vCPU (ideal keeps none: nothing to hide from it).
    for (const char* backend : {"native"}) {
        OracleRun all = oracle_run(backend, VMMU_MAX_CPUS); // nothing hidden
        EXPECT_EQ(all.result.stop, StopKind::Exited) << backend << ": " << all.result.message;
        OracleRun cpu1 = oracle_run(backend, 1);
        EXPECT_EQ(cpu1.result.stop, StopKind::OracleMismatch) << backend;
        EXPECT_EQ(cpu1.stopped_on, 1u) << backend << ": " << cpu1.result.message;
        EXPECT_EQ(cpu1.result.vcpu, 1u) << backend;
        OracleRun cpu0 = oracle_run(backend, 0);
        EXPECT_EQ(cpu0.result.stop, StopKind::OracleMismatch) << backend;
        EXPECT_EQ(cpu0.stopped_on, 0u) << backend << ": " << cpu0.result.message;
        EXPECT_EQ(cpu0.result.vcpu, 0u) << backend;
    }
}

} // namespace
} // namespace vmmu
