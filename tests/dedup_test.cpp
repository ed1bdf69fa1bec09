// Host frames, isolation and memory deduplication: the isolation half of the oracle
// on hand-built tables, then deduplication end to end on two VMs running real workloads.
#include "engine/experiment/multi_vm.h"
#include "engine/experiment/run.h"
#include "engine/output/multi_report.h"
#include "engine/output/run_report.h"
#include "run_results.h"
#include "engine/host/dedup.h"
#include "engine/slat/slat_backend.h"
#include "mmu_fixtures.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace vmmu {
namespace {

using testing::read_of;
using testing::write_of;

constexpr GuestVirt kVa{0x7f12'3456'7000};
constexpr GuestPhys kPa{0x2345000};
constexpr uint64_t kRw = x86::kPteW | x86::kPteU;

// Two VMs over one host pool, each with its own p2m from the host layout.
struct TwoVmHost {
    std::shared_ptr<HostFrames> host =
        std::make_shared<HostFrames>(host_layout({64ull << 20, 64ull << 20}));
    testing::Machine vm0, vm1;
    TwoVmHost() {
        vm0.p2m = P2m(HostPhys(host->range(0).base));
        vm1.p2m = P2m(HostPhys(host->range(1).base));
        vm0.env.host = vm1.env.host = host.get();
        vm0.env.vm = 0;
        vm1.env.vm = 1;
    }
};

TEST(Isolation, CorruptedEptLeafIntoAnotherVmIsReportedWithItsOwner) {
    TwoVmHost h;
    h.vm0.tables.map(h.vm0.root, kVa, kPa, 12, kRw);
    auto b = h.vm0.make("slat");
    b->on_access(read_of(kVa, kPa));
    HostPhys other = h.vm1.p2m.translate(kPa);
    ASSERT_EQ(h.host->owner(other), 1);
    dynamic_cast<SlatBackend&>(*b).corrupt_ept_leaf(kPa, other);
    try {
        b->on_access(read_of(kVa, kPa));
        FAIL() << "a translation into VM 1's memory passed the oracle";
    } catch (const OracleMismatch& e) {
        std::string m = e.what();
        EXPECT_NE(m.find("isolation violated"), std::string::npos) << m;
        EXPECT_NE(m.find("owned by VM 1"), std::string::npos) << m;
        EXPECT_NE(m.find(fmt::format("{:#x}", other.value())), std::string::npos) << m;
        EXPECT_NE(m.find(fmt::format("{:#x}", kPa.value())), std::string::npos) << m;
    }
}

TEST(Isolation, EveryBackendRefusesAWriteToASharedFrame) {
    for (const char* name : {"slat", "shadow"}) {
        TwoVmHost h;
        h.vm0.tables.map(h.vm0.root, kVa, kPa, 12, kRw);
        auto b = h.vm0.make(name);
        b->on_access(read_of(kVa, kPa));
        // The host shares the frame but (a bug) tells no backend: reads pass, a write must not.
        HostPhys frame = h.vm0.p2m.translate(kPa);
        h.host->set_owner(frame, HostFrames::kShared);
        h.vm0.p2m.remap(kPa, frame, true);
        b->on_access(read_of(kVa, kPa));
        try {
            b->on_access(write_of(kVa, kPa));
            FAIL() << name << ": a write reached a shared frame";
        } catch (const OracleMismatch& e) {
            EXPECT_NE(std::string(e.what()).find("shared read-only"), std::string::npos)
                << e.what();
        }
    }
}

// Shadow paging and copy-on-write, on hand-built tables: gVAs kVa and kAlias map one guest
// frame that the real scanner merges with VM 1's identical (zero) frame.
class ShadowBreak : public ::testing::Test {
protected:
    static constexpr GuestVirt kAlias{0x7f12'3456'9000};
    TwoVmHost h;
    std::unique_ptr<Backend> shadow;
    Deduplicator dedup{*h.host, {1, 100}};

    void SetUp() override {
        h.vm0.env.dedup = true;
        h.vm0.tables.map(h.vm0.root, kVa, kPa, 12, kRw);
        h.vm0.tables.map(h.vm0.root, kAlias, kPa, 12, kRw);
        shadow = h.vm0.make("shadow");
        auto only_kpa = [](uint64_t gfn) { return gfn == kPa.page_number(); };
        dedup.add_vm(h.vm0.memory, h.vm0.p2m, {shadow.get()}, only_kpa);
        dedup.add_vm(h.vm1.memory, h.vm1.p2m, {}, only_kpa);
    }
    void merge() {
        dedup.pass(), dedup.pass(); // first visit records the hash, the second merges
        ASSERT_TRUE(h.vm0.p2m.shared(kPa));
    }
    uint64_t faults() const { return shadow->counters().exits[ExitReason::PfHidden]; }
    uint64_t detail(const char* key) const { return shadow->counters().details.at(key); }
    // What the machine does on a guest store to a shared frame: break, then the access.
    void store(GuestVirt va) {
        if (h.vm0.p2m.shared(kPa)) dedup.break_on_write(0, kPa);
        shadow->on_access(write_of(va, kPa));
    }
};

TEST_F(ShadowBreak, StoreThroughAWriteProtectedSpteTakesOneFaultAndAnAliasPaysItsOwn) {
    shadow->on_access(read_of(kVa, kPa));
    shadow->on_access(read_of(kAlias, kPa));
    merge();
    uint64_t before = faults();
    shadow->on_access(read_of(kAlias, kPa)); // reads go through the shared frame
    EXPECT_EQ(faults(), before);
    store(kVa);
    EXPECT_EQ(faults(), before + 1);
    EXPECT_EQ(detail("dedup_break_exits"), 1u);
    store(kVa); // now writable: no fault
    EXPECT_EQ(faults(), before + 1);
    // The alias's spte still write-protects the (now private) frame: its first store faults.
    shadow->on_access(read_of(kAlias, kPa));
    EXPECT_EQ(faults(), before + 1);
    store(kAlias);
    EXPECT_EQ(faults(), before + 2);
    store(kAlias);
    EXPECT_EQ(faults(), before + 2);
    EXPECT_EQ(detail("dedup_breaks"), 1u);
    EXPECT_EQ(detail("dedup_break_exits"), 1u);
    EXPECT_EQ(detail("dedup_wp_faults"), 2u);
}

TEST_F(ShadowBreak, StoreThroughAnUnmappedGvaWhileAnAliasIsMappedTakesOneFault) {
    // The alias's spte exists, the written gVA's does not: one not-present shadow fault, in
    // which the hypervisor breaks the sharing and maps the store writable.
    shadow->on_access(read_of(kAlias, kPa));
    merge();
    uint64_t before = faults();
    store(kVa);
    EXPECT_EQ(faults(), before + 1);
    EXPECT_EQ(detail("dedup_break_exits"), 1u);
    EXPECT_EQ(detail("dedup_wp_faults"), 0u);
}

TEST_F(ShadowBreak, StoreWithNoSpteOfTheFrameTakesOneFault) {
    merge();
    uint64_t before = faults();
    store(kVa);
    EXPECT_EQ(faults(), before + 1);
    EXPECT_EQ(detail("dedup_break_exits"), 1u);
}

TEST(HostFrames, FreedFramesAreHandedOutAgainAndOwnersFollow) {
    HostFrames host(host_layout({64ull << 20, 64ull << 20}));
    HostPhys f(host.range(1).base + 0x5000);
    EXPECT_EQ(host.owner(f), 1);
    EXPECT_EQ(host.owner(HostPhys(host.range(0).guest_end)), HostFrames::kHypervisor);
    EXPECT_EQ(host.owner(HostPhys(0x1000)), HostFrames::kNone);
    host.set_owner(f, HostFrames::kFree);
    EXPECT_EQ(host.allocate(0), f);
    EXPECT_EQ(host.owner(f), 0);
    EXPECT_THROW(host.allocate(0), std::runtime_error);
}

TEST(P2m, RemappedFramesOverrideTheLinearMapOnly) {
    P2m p(HostPhys(1ull << 32));
    EXPECT_TRUE(p.contiguous(GuestPhys(0), 21));
    p.remap(GuestPhys(0x3000), HostPhys(0x9'0000'0000), true);
    EXPECT_EQ(p.translate(GuestPhys(0x3010)), HostPhys(0x9'0000'0010));
    EXPECT_TRUE(p.shared(GuestPhys(0x3fff)));
    EXPECT_EQ(p.translate(GuestPhys(0x4000)), HostPhys((1ull << 32) + 0x4000));
    EXPECT_FALSE(p.contiguous(GuestPhys(0), 21));
    p.remap(GuestPhys(0x3000), p.linear(GuestPhys(0x3000)), false);
    EXPECT_EQ(p.remapped_frames(), 0u);
    EXPECT_FALSE(p.shared(GuestPhys(0x3000)));
}

class Dedup : public ::testing::Test {
protected:
    void SetUp() override {
        setenv("VMMU_GUEST_DIR", VMMU_GUEST_DIR, 1);
        setenv("VMMU_PROFILE_DIR", VMMU_SOURCE_DIR "/workloads/profiles", 1);
    }
    // Two VMs of the same workload; the scanner fast enough to see a short run.
    static MultiOptions two(const std::string& workload, std::vector<std::string> params,
                            bool dedup) {
        RunOptions o;
        o.workload = workload;
        o.params = std::move(params);
        o.guest_mib = 128;
        o.dedup = dedup;
        o.dedup_period = 200'000;
        o.dedup_pages = 2000;
        MultiOptions m;
        m.vms = {o, o};
        m.quantum = 100'000;
        return m;
    }
    static const BackendResult& backend(const MultiOutput& m, const std::string& name) {
        return test_results::find_backend(m.totals, name);
    }
    static uint64_t detail(const BackendResult& b, const char* key) {
        return test_results::detail(b, key);
    }
    static uint64_t checksum(const RunOutput& r) { return test_results::checksum(r); }
};

TEST_F(Dedup, TwoVmsShareZeroPagesAndProgramTextAndKeepTheirChecksums) {
    MultiOutput plain = execute_multi(two("forkwait", {"n=30"}, false));
    MultiOutput shared = execute_multi(two("forkwait", {"n=30"}, true));
    ASSERT_EQ(multi_exit_code(shared), 0) << shared.vms[0].run.result.message;
    for (size_t i = 0; i < 2; ++i)
        EXPECT_EQ(checksum(shared.vms[i].run), checksum(plain.vms[i].run));
    ASSERT_TRUE(shared.vms[0].run.dedup);
    const DedupResult& d = *shared.vms[0].run.dedup;
    EXPECT_GT(d.host.merges, 0u);
    EXPECT_GT(d.host.frames_saved_peak, 0u);
    EXPECT_GT(d.host.frames_saved, 0u);
    EXPECT_GT(shared.vms[1].run.dedup->vm.merges, 0u) << "no frame of VM 1 merged";
    EXPECT_FALSE(plain.vms[0].run.dedup);
}

TEST_F(Dedup, ZeroFramesAndIdenticalTextFramesMergeAcrossVms) {
    // The scanner by itself, on two VMs booted with the same program (identical text) and
    // lots of untouched-but-backed zero frames: every pair must end up on one host frame.
    auto frames = std::make_shared<HostFrames>(host_layout({64ull << 20, 64ull << 20}));
    Deduplicator dedup(*frames, {1, 100000});
    testing::Machine a, b;
    a.p2m = P2m(HostPhys(frames->range(0).base));
    b.p2m = P2m(HostPhys(frames->range(1).base));
    std::vector<uint8_t> text(kPageSize4K);
    for (size_t i = 0; i < text.size(); ++i) text[i] = static_cast<uint8_t>(i * 7 + 3);
    a.memory.write(GuestPhys(0x10000), text.data(), text.size());
    b.memory.write(GuestPhys(0x10000), text.data(), text.size());
    text[5] ^= 1; // VM 1's second program frame differs by one byte
    a.memory.write(GuestPhys(0x11000), text.data(), text.size());
    text[5] ^= 3;
    b.memory.write(GuestPhys(0x11000), text.data(), text.size());
    auto backed = [](uint64_t gfn) { return gfn >= 0x10 && gfn < 0x20; }; // 2 text + 14 zero
    dedup.add_vm(a.memory, a.p2m, {}, backed);
    dedup.add_vm(b.memory, b.p2m, {}, backed);
    dedup.pass(); // first visit: hashes recorded, nothing merged yet (KSM's volatility check)
    EXPECT_EQ(dedup.counters().merges, 0u);
    dedup.pass();
    EXPECT_EQ(a.p2m.translate(GuestPhys(0x10000)), b.p2m.translate(GuestPhys(0x10000)));
    EXPECT_NE(a.p2m.translate(GuestPhys(0x11000)), b.p2m.translate(GuestPhys(0x11000)));
    EXPECT_EQ(a.p2m.translate(GuestPhys(0x12000)), b.p2m.translate(GuestPhys(0x1f000)));
    // 28 zero frames on one host frame saves 27, the shared text frame 1.
    EXPECT_EQ(dedup.counters().frames_saved, 28u);
    EXPECT_EQ(frames->owner(a.p2m.translate(GuestPhys(0x10000))), HostFrames::kShared);
    // A write breaks the sharing for the writer only.
    dedup.break_on_write(1, GuestPhys(0x10008));
    EXPECT_NE(a.p2m.translate(GuestPhys(0x10000)), b.p2m.translate(GuestPhys(0x10000)));
    EXPECT_EQ(frames->owner(b.p2m.translate(GuestPhys(0x10000))), 1);
    EXPECT_EQ(dedup.counters().breaks, 1u);
    EXPECT_EQ(dedup.counters().frames_saved, 27u);
}

TEST_F(Dedup, BreaksTakeTheSchemesOwnExit) {
    MultiOutput plain = execute_multi(two("forkwait", {"n=30"}, false));
    MultiOutput shared = execute_multi(two("forkwait", {"n=30"}, true));
    ASSERT_EQ(multi_exit_code(shared), 0);
    // A shared frame found changed by a write the engine did not see (QEMU setting an A/D bit in
    // a merged page-table page: "diverged") is given back as the hardware's write would have
    // been, so the backends count it as a break too.
    uint64_t by_write = shared.vms[0].run.dedup->host.breaks;
    uint64_t breaks = by_write + shared.vms[0].run.dedup->host.diverged;
    ASSERT_GT(by_write, 0u) << "the workload never wrote a merged frame";
    const BackendResult &slat0 = backend(plain, "slat"), &slat1 = backend(shared, "slat");
    // Every break is one EPT violation: the write hit the read-only leaf.
    EXPECT_EQ(detail(slat1, "dedup_breaks"), breaks);
    EXPECT_EQ(slat1.counters.exits[ExitReason::EptViolation],
              slat0.counters.exits[ExitReason::EptViolation] + breaks);
    const BackendResult &sh0 = backend(plain, "shadow"), &sh1 = backend(shared, "shadow");
    // Under shadow paging each breaking store takes exactly one shadow page fault: on its
    // write-protected spte, or a not-present one that the run without sharing takes as well
    // (so pf_hidden need not rise by `breaks`). Stores through other gVAs of a frame given back
    // fault on their own still write-protected sptes (counted in dedup_wp_faults), and merges
    // keep 2M shadow leaves off merged regions (more fills): pf_hidden rises by at least the
    // write-protect faults.
    EXPECT_EQ(detail(sh1, "dedup_breaks"), breaks);
    // A divergence costs shadow no exit (the hypervisor wrote those A/D bits itself, inside
    // exits it already took: engine/shadow/shadow_backend.cpp, on_host_remap).
    EXPECT_EQ(detail(sh1, "dedup_break_exits"), by_write);
    EXPECT_EQ(detail(sh1, "write_protect_faults"),
              detail(sh0, "write_protect_faults") + detail(sh1, "dedup_wp_faults"));
    EXPECT_GE(sh1.counters.exits[ExitReason::PfHidden],
              sh0.counters.exits[ExitReason::PfHidden] + detail(sh1, "dedup_wp_faults"));
    EXPECT_EQ(sh1.counters.exits[ExitReason::EptViolation], 0u);
    // Native has no host: no deduplication, no counters, no cost.
    const BackendResult& nat = backend(shared, "native");
    EXPECT_EQ(detail(nat, "dedup_breaks"), 0u);
    EXPECT_EQ(detail(nat, "dedup_scan_cycles"), 0u);
    EXPECT_EQ(nat.cycles.total(), backend(plain, "native").cycles.total());
    EXPECT_GT(detail(slat1, "dedup_scan_cycles"), 0u);
}

// Sharing breaks come from inside a guest store: a loop's repeats that ran before one reach
// the backends before the host remaps the frame, so the counters are those of sending every
// event as it happens, with the cache hierarchy (a loop's repeats reach it line by line) and
// without.
TEST_F(Dedup, LoopRepeatsCountAsEveryEventDoes) {
    for (bool caches : {false, true}) {
        SCOPED_TRACE(caches ? "caches on" : "caches off");
        MultiOptions coalesced = two("mmapchurn", {"rounds=20"}, true);
        for (auto& vm : coalesced.vms) vm.caches = caches;
        MultiOptions each = coalesced;
        for (auto& vm : each.vms) vm.coalesce_blocks = false;
        auto a = multi_json(execute_multi(coalesced));
        auto b = multi_json(execute_multi(each));
        a.erase("sim"), b.erase("sim");
        for (auto* j : {&a, &b})
            for (auto& vm : (*j)["vms"]) vm.erase("sim");
        EXPECT_EQ(a.dump(1), b.dump(1));
        EXPECT_GT(a["totals"]["dedup"]["host"]["breaks"].get<uint64_t>(), 0u);
        for (auto& [name, backend] : a["vms"][0]["backends"].items())
            EXPECT_EQ(backend["caches"]["modelled"].get<bool>(), caches) << name;
    }
}

TEST_F(Dedup, SameCommandTwiceGivesTheSameCounters) {
    auto a = multi_json(execute_multi(two("mmapchurn", {"rounds=20"}, true)));
    auto b = multi_json(execute_multi(two("mmapchurn", {"rounds=20"}, true)));
    a.erase("sim"), b.erase("sim");
    for (auto* j : {&a, &b})
        for (auto& vm : (*j)["vms"]) vm.erase("sim");
    EXPECT_EQ(a.dump(), b.dump());
    EXPECT_GT(a["totals"]["dedup"]["host"]["merges"].get<uint64_t>(), 0u);
}

TEST_F(Dedup, SingleVmRunMergesWithinTheVm) {
    RunOptions o = two("forkwait", {"n=30"}, true).vms[0];
    RunOutput out = execute_run(o);
    ASSERT_EQ(run_exit_code(out.result), 0) << out.result.message;
    ASSERT_TRUE(out.dedup);
    EXPECT_GT(out.dedup->host.merges, 0u);
    auto j = run_json(out);
    EXPECT_EQ(j["dedup"]["host"]["scan_cycles_basis"], "estimate (engine/host/dedup.h)");
    RunOptions off = o;
    off.dedup = false;
    EXPECT_EQ(checksum(execute_run(off)), checksum(out));
}

TEST_F(Dedup, BadOptionsNameTheFix) {
    RunOptions o;
    o.dedup = true;
    o.dedup_period = 0;
    EXPECT_THROW(check_dedup_options(o), std::invalid_argument);
    o.dedup_period = 1;
    o.ept_pages = "2m";
    try {
        check_dedup_options(o);
        FAIL();
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("--ept-pages 4k"), std::string::npos) << e.what();
    }
}

} // namespace
} // namespace vmmu
