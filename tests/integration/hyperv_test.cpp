// Hypervisor personalities end to end: what CPUID answers for --hypervisor none|kvm|hyperv, and
// the Hyper-V-enlightened kernel on every workload. The guest issues its hypercalls (counted in
// its report), every backend observes the same run and prices them as its host would: shadow's
// VTLB takes hv_switch_as / hv_flush exits where cr3_write / invlpg were, slat and native see
// the plain instructions; checksums equal those of --hypervisor none; the oracle holds.
#include "engine/core/hypervisor.h"
#include "engine/experiment/run.h"
#include "engine/experiment/sensitivity.h"
#include "engine/output/study_report.h"
#include "../run_results.h"
#include "vmmu/abi.h"

#include <gtest/gtest.h>

#include <cstring>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace vmmu {
namespace {

using test_results::checksum;
using test_results::detail;
using test_results::find_backend;

// Every workload at a small size (each one's own parameters).
const std::vector<std::pair<std::string, std::vector<std::string>>> kWorkloads = {
    {"hello", {}},
    {"forkwait", {"n=20"}},
    {"ctxswitch", {"rounds=200", "procs=2"}},
    {"gups", {"table_mib=2", "updates=20000"}},
    {"stream", {"array_mib=1", "iterations=1"}},
    {"mmapchurn", {"rounds=20", "region_kib=64"}},
    {"sessions",
     {"sessions=2", "actions=1", "ws_mib=1", "think_ticks=1", "bursts=1", "burst_updates=500"}},
};

RunOutput run(const std::string& workload, const std::vector<std::string>& params,
              const std::string& hypervisor, unsigned vcpus = 1) {
    RunOptions o;
    o.vcpus = vcpus;
    if (vcpus > 1) o.backends = {"native", "shadow", "slat", "agile", "ideal"};
    o.backend_profile["agile"] = "nehalem-2009";
    o.workload = workload;
    o.params = params;
    o.hypervisor = hypervisor;
    o.guest_mib = 256;
    o.profile = "penryn-2008";
    o.backend_profile["slat"] = "nehalem-2009"; // the R2 host has SLAT
    o.max_instructions = 2'000'000'000;
    return execute_run(o);
}

uint64_t reported(const RunOutput& r, const std::string& key) {
    auto it = r.result.reported.find(key);
    return it == r.result.reported.end() ? 0 : it->second;
}

uint64_t exits(const RunOutput& r, const char* backend, ExitReason why) {
    return find_backend(r.backends, backend).counters.exits[why];
}

std::string text(uint32_t b, uint32_t c, uint32_t d) {
    char s[13] = {};
    std::memcpy(s, &b, 4);
    std::memcpy(s + 4, &c, 4);
    std::memcpy(s + 8, &d, 4);
    return s;
}

TEST(HypervisorCpuid, HypervOffersItsSignatureAndRecommendsTheFlushEnlightenments) {
    CpuidRegs v = answer_cpuid(Hypervisor::HyperV, VMMU_CPUID_HV_VENDOR, {});
    EXPECT_EQ(text(v.ebx, v.ecx, v.edx), "Microsoft Hv");
    EXPECT_GE(v.eax, VMMU_CPUID_HV_RECOMMEND);
    EXPECT_EQ(answer_cpuid(Hypervisor::HyperV, VMMU_CPUID_HV_INTERFACE, {}).eax,
              VMMU_HV_INTERFACE_HV1);
    uint32_t rec = answer_cpuid(Hypervisor::HyperV, VMMU_CPUID_HV_RECOMMEND, {}).eax;
    EXPECT_TRUE(rec & VMMU_HV_REC_SWITCH_AS);
    EXPECT_TRUE(rec & VMMU_HV_REC_LOCAL_FLUSH);
    EXPECT_TRUE(rec & VMMU_HV_REC_REMOTE_FLUSH);
}

TEST(HypervisorCpuid, KvmSignsAsKvmAndNoneClearsTheHypervisorBit) {
    CpuidRegs k = answer_cpuid(Hypervisor::Kvm, VMMU_CPUID_HV_VENDOR, {});
    EXPECT_EQ(text(k.ebx, k.ecx, k.edx), "KVMKVMKVM");
    EXPECT_EQ(answer_cpuid(Hypervisor::Kvm, VMMU_CPUID_HV_RECOMMEND, {}).eax, 0u);
    CpuidRegs native{1, 2, 0x1234 | VMMU_CPUID1_ECX_HYPERVISOR, 4};
    EXPECT_EQ(answer_cpuid(Hypervisor::None, 1, native).ecx, 0x1234u);
    EXPECT_EQ(answer_cpuid(Hypervisor::Kvm, 1, {1, 2, 0x1234, 4}).ecx,
              0x1234u | VMMU_CPUID1_ECX_HYPERVISOR);
    EXPECT_EQ(answer_cpuid(Hypervisor::None, 1, native).eax, 1u); // the rest is the CPU model's
    CpuidRegs none = answer_cpuid(Hypervisor::None, VMMU_CPUID_HV_VENDOR, {});
    EXPECT_EQ(none.eax | none.ebx | none.ecx | none.edx, 0u);
}

TEST(HypervisorPersonality, UnknownPersonalityAndSlatWithoutEptAreRefused) {
    RunOptions o;
    o.hypervisor = "xen";
    try {
        execute_run(o);
        FAIL() << "--hypervisor xen accepted";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("none, kvm, hyperv"), std::string::npos) << e.what();
    }
    o.hypervisor = "hyperv";
    o.profile = "penryn-2008";
    try {
        execute_run(o);
        FAIL() << "hyperv with slat on penryn accepted";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("no EPT"), std::string::npos) << e.what();
    }
}

// The whole acceptance on every workload: one run per personality, the oracle on throughout.
TEST(HypervisorPersonality, EnlightenedKernelMatchesPlainRunAndEachBackendPricesItsHost) {
    uint64_t listed_pages = 0, lists = 0;
    for (auto& [workload, params] : kWorkloads) {
        SCOPED_TRACE(workload);
        RunOutput plain = run(workload, params, "none");
        RunOutput hv = run(workload, params, "hyperv");
        ASSERT_EQ(plain.result.stop, StopKind::Exited) << plain.result.message;
        ASSERT_EQ(hv.result.stop, StopKind::Exited) << hv.result.message << "\n"
                                                    << hv.result.console;
        EXPECT_EQ(checksum(hv), checksum(plain));

        // Plain guest: mov cr3 and invlpg, each a shadow exit; no hypercall anywhere.
        EXPECT_EQ(reported(plain, "kernel.hv_hypercalls"), 0u);
        EXPECT_EQ(exits(plain, "shadow", ExitReason::Cr3Write),
                  reported(plain, "kernel.cr3_loads"));
        EXPECT_EQ(exits(plain, "shadow", ExitReason::Invlpg), reported(plain, "kernel.invlpgs"));
        EXPECT_EQ(exits(plain, "shadow", ExitReason::HvSwitchAs), 0u);
        EXPECT_TRUE(find_backend(plain.backends, "shadow").counters.hyperv.empty());

        // Enlightened guest: every switch and flush by hypercall.
        uint64_t switches = reported(hv, "kernel.hv_switches");
        uint64_t flushes =
            reported(hv, "kernel.hv_flush_spaces") + reported(hv, "kernel.hv_flush_lists");
        EXPECT_GT(switches, 0u);
        EXPECT_EQ(reported(hv, "kernel.hv_hypercalls"), switches + flushes);
        EXPECT_EQ(switches + reported(hv, "kernel.hv_flush_spaces"),
                  reported(plain, "kernel.cr3_loads"));
        // Shadow = Hyper-V 2008's VTLB: cr3_write exits drop to the unenlightened switches (none
        // left), hv_switch_as equals the guest's switches, one hv_flush per flush hypercall.
        EXPECT_EQ(exits(hv, "shadow", ExitReason::Cr3Write), reported(hv, "kernel.cr3_loads"));
        EXPECT_EQ(exits(hv, "shadow", ExitReason::Cr3Write), 0u);
        EXPECT_EQ(exits(hv, "shadow", ExitReason::Invlpg), 0u);
        EXPECT_EQ(exits(hv, "shadow", ExitReason::HvSwitchAs), switches);
        EXPECT_EQ(exits(hv, "shadow", ExitReason::HvFlush), flushes);
        const BackendResult& shadow = find_backend(hv.backends, "shadow");
        EXPECT_EQ(detail(shadow, "hv_flush_entries"), reported(hv, "kernel.hv_flush_entries"));
        EXPECT_EQ(shadow.counters.hyperv.at("Address Space Switches"), switches);
        EXPECT_EQ(shadow.counters.hyperv.at("Virtual TLB Flush Entires"),
                  reported(hv, "kernel.hv_flush_entries"));
        // Slat = the R2 host, native = bare metal: no exit for either, the plain instruction.
        for (const char* b : {"slat", "native"}) {
            EXPECT_EQ(exits(hv, b, ExitReason::HvSwitchAs), 0u) << b;
            EXPECT_EQ(exits(hv, b, ExitReason::HvFlush), 0u) << b;
            EXPECT_EQ(exits(hv, b, ExitReason::Cr3Write), 0u) << b;
            EXPECT_TRUE(find_backend(hv.backends, b).counters.hyperv.empty()) << b;
        }
        // The hypercalls travel as `out` but are not port I/O to any host: every other out
        // still exits as io, none of the Hyper-V ones does.
        for (const char* b : {"shadow", "slat"})
            EXPECT_EQ(exits(hv, b, ExitReason::Io),
                      hv.result.guest.io_writes - reported(hv, "kernel.hv_hypercalls"))
                << b;
        listed_pages += reported(hv, "kernel.hv_flush_entries");
        lists += reported(hv, "kernel.hv_flush_lists");
    }
    // Somewhere (mmapchurn's unmaps) a list carries several pages in one hypercall.
    EXPECT_GT(listed_pages, lists);
}

// Two vCPUs under Hyper-V: the kernel's page and whole-space shootdowns are one flush hypercall
// naming the other CPU (workloads/kernel/smp.c), not IPIs. The engine flushes the target's
// functional TLB before it runs again: munmapstorm checks every freshly mapped page reads as
// zero, and every scheme's oracle compares each translation with the functional one, so a
// skipped target flush fails here. Shadow takes one hv_flush exit per flush hypercall (the
// kernel counts them) and none on the target; slat and native take no exit at all.
TEST(HypervisorPersonality, RemoteFlushesByHypercallReplaceShootdownIpis) {
    const std::vector<std::string> params = {"threads=2", "rounds=4", "region_kib=64"};
    RunOutput one = run("munmapstorm", params, "hyperv");
    RunOutput hv = run("munmapstorm", params, "hyperv", 2);
    RunOutput plain = run("munmapstorm", params, "none", 2);
    for (const RunOutput* r : {&one, &hv, &plain}) {
        ASSERT_EQ(r->result.stop, StopKind::Exited) << r->result.message << "\n"
                                                    << r->result.console;
        EXPECT_EQ(reported(*r, "munmapstorm.ok"), 1u);
        EXPECT_EQ(checksum(*r), checksum(one));
    }
    EXPECT_EQ(reported(hv, "kernel.cpus"), 2u);
    // Under none, shootdowns are IPIs; under hyperv, hypercalls, each naming one target.
    EXPECT_GT(reported(plain, "kernel.shootdown_ipis"), 0u);
    EXPECT_EQ(reported(plain, "kernel.shootdown_ipis"),
              reported(plain, "kernel.shootdown_targets"));
    uint64_t remote = reported(hv, "kernel.hv_remote_flushes");
    EXPECT_GT(remote, 0u);
    EXPECT_EQ(reported(hv, "kernel.hv_remote_targets"), remote);
    // Only FLUSH_LEAVE (an address space about to be freed, held by a lazy CPU) still takes IPIs.
    EXPECT_EQ(reported(hv, "kernel.shootdown_ipis") + remote, reported(hv, "kernel.shootdowns"));
    EXPECT_EQ(reported(hv, "kernel.shootdowns_served"), reported(hv, "kernel.shootdown_ipis"));
    EXPECT_LT(exits(hv, "shadow", ExitReason::Ipi), exits(plain, "shadow", ExitReason::Ipi));
    // Shadow, by hand: one hv_flush exit per flush hypercall, local or remote, none on a target.
    uint64_t flushes =
        reported(hv, "kernel.hv_flush_spaces") + reported(hv, "kernel.hv_flush_lists");
    EXPECT_EQ(exits(hv, "shadow", ExitReason::HvFlush), flushes);
    const BackendResult& shadow = find_backend(hv.backends, "shadow");
    EXPECT_EQ(detail(shadow, "hv_remote_flushes"), detail(shadow, "hv_remote_flush_vcpus"));
    EXPECT_GT(detail(shadow, "hv_remote_flush_vcpus"), 0u);
    // A target whose CR3 no longer holds the space (it was switching) has nothing to flush.
    EXPECT_LE(detail(shadow, "hv_remote_flush_vcpus"), remote);
    for (const char* b : {"slat", "native", "agile", "ideal"})
        EXPECT_EQ(exits(hv, b, ExitReason::HvFlush), 0u) << b;
}

// The VTLB's capacity: 8 cached address spaces by default (ShadowOptions::hyperv_vtlb); fewer
// cached spaces evict more, and the shadow option still overrides the personality's default.
TEST(HypervisorPersonality, VtlbCachesEightAddressSpacesAndEvictsTheLeastRecentlyUsed) {
    RunOutput wide = run("sessions", {"sessions=4", "actions=1", "ws_mib=1", "bursts=1"}, "hyperv");
    RunOutput narrow = [&] {
        RunOptions n;
        n.workload = "sessions";
        n.params = {"sessions=4", "actions=1", "ws_mib=1", "bursts=1"};
        n.hypervisor = "hyperv";
        n.guest_mib = 256;
        n.profile = "penryn-2008";
        n.backends = {"shadow"};
        n.shadow_opts = {"prev_roots=1"};
        return execute_run(n);
    }();
    const auto& w = find_backend(wide.backends, "shadow").counters.hyperv;
    const auto& n = find_backend(narrow.backends, "shadow").counters.hyperv;
    EXPECT_EQ(w.at("Address Spaces"), 8u);
    EXPECT_EQ(n.at("Address Spaces"), 2u);
    EXPECT_GT(n.at("Address Space Evictions"), w.at("Address Space Evictions"));
    EXPECT_EQ(checksum(narrow), checksum(wide));
}

TEST(HypervisorPersonality, KvmGuestKeepsThePlainInstructions) {
    RunOutput r = run("forkwait", {"n=10"}, "kvm");
    ASSERT_EQ(r.result.stop, StopKind::Exited) << r.result.message;
    EXPECT_EQ(reported(r, "kernel.hv_hypercalls"), 0u);
    EXPECT_GT(exits(r, "shadow", ExitReason::Cr3Write), 0u);
    EXPECT_NE(r.result.console.find("KVMKVMKVM"), std::string::npos) << r.result.console;
}

// The study's sensitivity grid as its document and the console show it: every point, the band
// count over measured points only, the table at A = 10.
TEST(SensitivityGrid, CountsPointsInTheBandAndTabulatesAtTenActionsPerSecond) {
    SensitivityGrid g;
    g.axes.burst_updates = {1000, 4000};
    g.axes.ws_mib = {1};
    g.axes.think_ticks = {1};
    g.axes.actions_per_sec = {10};
    SensitivityPoint in{1000, 1, 1, 10, 2.2, 50, 110, "within band", ""};
    SensitivityPoint failed{4000, 1, 1, 10, std::nullopt, 0, 0, "", "run status guest_error"};
    g.points = {in, failed};
    g.measured = 1;
    g.in_band = 1;
    auto j = sensitivity_json(g);
    ASSERT_EQ(j["points"].size(), 2u);
    EXPECT_DOUBLE_EQ(j["points"][0]["slat/shadow"].get<double>(), 2.2);
    EXPECT_TRUE(j["points"][1]["slat/shadow"].is_null());
    EXPECT_EQ(j["points"][1]["failure"], "run status guest_error");
    std::string t = sensitivity_table(j);
    EXPECT_NE(t.find("2.2x"), std::string::npos) << t;
    EXPECT_NE(t.find("1 of 1 grid points"), std::string::npos) << t;
}

// "Address Spaces" and "Virtual TLB Pages" are levels: a window reports the level at its end,
// never a difference (a difference of a level that stayed put is 0).
TEST(HypervisorPersonality, VtlbGaugesInAWindowAreTheirLevelAtItsEnd) {
    RunOutput out = run("mmapchurn", {"rounds=20", "region_kib=128"}, "hyperv");
    size_t shadow = 0;
    while (out.backends[shadow].name != "shadow") ++shadow;
    const Details& whole = out.backends[shadow].counters.hyperv;
    ASSERT_GT(whole.at("Address Spaces"), 0u);
    ASSERT_GT(whole.at("Virtual TLB Pages"), 0u);
    const Window& churn = out.windows.windows.at("churn");
    const Details& in = churn.counters.backends[shadow].hyperv;
    // The churn region runs to the program's end, after which nothing is created or dropped.
    EXPECT_EQ(in.at("Address Spaces"), whole.at("Address Spaces"));
    EXPECT_GT(in.at("Virtual TLB Pages"), 0u);
    // A count, by contrast, is the window's own share.
    EXPECT_LE(in.at("Address Space Switches"), whole.at("Address Space Switches"));
}

} // namespace
} // namespace vmmu
