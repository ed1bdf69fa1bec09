// The ideal scheme: a perfect TLB that never misses, the lower bound of every other scheme.
#include "engine/experiment/run.h"
#include "engine/output/run_report.h"
#include "mmu_fixtures.h"
#include "run_results.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

using namespace vmmu;
using vmmu::testing::read_of;
using vmmu::testing::write_of;

namespace {

constexpr GuestVirt kVa{0x7f12'3456'7000};
constexpr GuestPhys kPa{0x2345000};

class IdealRun : public ::testing::Test {
protected:
    void SetUp() override {
        setenv("VMMU_GUEST_DIR", VMMU_GUEST_DIR, 1);
        setenv("VMMU_PROFILE_DIR", VMMU_SOURCE_DIR "/workloads/profiles", 1);
    }
    static RunOptions options(const std::string& workload, std::vector<std::string> params,
                              std::vector<std::string> backends = {"native", "ideal"}) {
        RunOptions o;
        o.workload = workload;
        o.params = std::move(params);
        o.backends = std::move(backends);
        o.guest_mib = 256;
        return o;
    }
    static const BackendResult& backend(const RunOutput& r, const std::string& name) {
        return test_results::find_backend(r.backends, name);
    }
};

void expect_same_counters(const BackendCounters& a, const BackendCounters& b) {
    EXPECT_EQ(a.tlb.l1i_lookups, b.tlb.l1i_lookups);
    EXPECT_EQ(a.tlb.l1d_lookups, b.tlb.l1d_lookups);
    EXPECT_EQ(a.tlb.l1i_misses + a.tlb.l1d_misses, b.tlb.l1i_misses + b.tlb.l1d_misses);
    EXPECT_EQ(a.walks.walks, b.walks.walks);
    EXPECT_EQ(a.exits.total(), b.exits.total());
    EXPECT_EQ(a.details, b.details);
}

} // namespace

TEST_F(IdealRun, NeverMissesOnAnyWorkload) {
    for (auto& [workload, params] : std::vector<std::pair<std::string, std::vector<std::string>>>{
             {"hello", {}}, {"forkwait", {"n=50"}}, {"mmapchurn", {"rounds=20"}}}) {
        SCOPED_TRACE(workload);
        RunOutput r = execute_run(options(workload, params));
        ASSERT_EQ(run_status(r.result), "ok");
        const BackendResult &ideal = backend(r, "ideal"), &native = backend(r, "native");
        const BackendCounters& c = ideal.counters;
        EXPECT_EQ(c.tlb.l1i_misses + c.tlb.l1d_misses + c.tlb.stlb_misses, 0u);
        EXPECT_EQ(c.tlb.flushes, 0u);
        EXPECT_EQ(c.walks.walks, 0u);
        EXPECT_EQ(c.walks.refs, 0u);
        EXPECT_EQ(c.exits.total(), 0u);
        // Every lookup native makes, the ideal makes too, and each one hits.
        EXPECT_EQ(c.tlb.l1i_lookups, native.counters.tlb.l1i_lookups);
        EXPECT_EQ(c.tlb.l1d_lookups, native.counters.tlb.l1d_lookups);
        EXPECT_GT(native.counters.walks.walks, 0u);
        EXPECT_EQ(ideal.cycles.total(), ideal.cycles.base);
        EXPECT_EQ(ideal.cycles.base, native.cycles.base);
        EXPECT_LE(ideal.cycles.total(), native.cycles.total());
    }
}

TEST_F(IdealRun, CountersAreTheSameWithAndWithoutLoopCoalescing) {
    RunOptions o = options("gups", {"table_mib=4", "updates=20000"});
    RunOutput coalesced = execute_run(o);
    o.coalesce_blocks = false;
    RunOutput replayed = execute_run(o);
    ASSERT_EQ(run_status(coalesced.result), "ok");
    ASSERT_EQ(run_status(replayed.result), "ok");
    const BackendResult &a = backend(coalesced, "ideal"), &b = backend(replayed, "ideal");
    expect_same_counters(a.counters, b.counters);
    EXPECT_EQ(a.cycles.total(), b.cycles.total());
}

TEST_F(IdealRun, ComparedWithNativeInTheJsonAndTheTable) {
    RunOutput r = execute_run(options("hello", {}, {"native", "shadow", "slat", "ideal"}));
    auto j = run_json(r);
    ASSERT_TRUE(j["backends"].contains("ideal"));
    EXPECT_EQ(j["backends"]["ideal"]["cycles"]["total"], j["backends"]["ideal"]["cycles"]["base"]);
    // The three classic ratios keep their order; the new scheme comes after them.
    std::vector<std::string> keys;
    for (auto& [k, v] : j["comparison"].items()) keys.push_back(k);
    EXPECT_EQ(keys, (std::vector<std::string>{"shadow/native", "slat/native", "shadow/slat",
                                              "ideal/native"}));
    EXPECT_LE(j["comparison"]["ideal/native"].get<double>(), 1.0);
    EXPECT_NE(run_table(r).find("ideal"), std::string::npos);
}

TEST_F(IdealRun, NoHostSoNoDeduplicationCost) {
    RunOptions o = options("hello", {}, {"native", "ideal", "slat"});
    o.dedup = true;
    o.dedup_period = 20'000; // several scans even in this short run
    RunOutput r = execute_run(o);
    ASSERT_EQ(run_status(r.result), "ok");
    const BackendResult& ideal = backend(r, "ideal");
    EXPECT_EQ(ideal.cycles.total(), ideal.cycles.base);
    EXPECT_FALSE(ideal.counters.details.contains("dedup_scan_cycles"));
    EXPECT_GT(test_results::detail(backend(r, "slat"), "dedup_scan_cycles"), 0u);
    EXPECT_NE(dedup_table(*r.dedup, r.backends).find("ideal    no host"), std::string::npos);
}

TEST(IdealBackend, HitsWithoutATableOrAWalk) {
    vmmu::testing::Machine m; // no page tables at all: a perfect TLB needs none
    auto b = m.make("ideal");
    b->on_access(read_of(kVa + 8, kPa + 8));
    b->on_access(write_of(kVa + 16, kPa + 16));
    b->on_fetch(Fetch{GuestVirt(0x1ff0), GuestPhys(0x1ff0), 0x20, 4, false}); // spans 2 pages
    const auto& c = b->counters();
    EXPECT_EQ(c.tlb.l1d_lookups, 2u);
    EXPECT_EQ(c.tlb.l1i_lookups, 2u);
    EXPECT_EQ(c.tlb.l1d_misses + c.tlb.l1i_misses + c.walks.walks + c.exits.total(), 0u);
    CycleBreakdown cy = b->cycles(1000);
    EXPECT_EQ(cy.total(), cy.base);
    EXPECT_EQ(cy.base, 1000 * m.prof.base_cpi);
}

TEST(IdealBackend, LoopRepeatsCountWhatReplaysWouldCount) {
    vmmu::testing::Machine m;
    std::vector<DataAccess> accesses = {read_of(kVa, kPa), write_of(kVa + 64, kPa + 64)};
    std::vector<BlockEvents> body = {
        {Fetch{GuestVirt(0x1ff0), GuestPhys(0x1ff0), 0x20, 4, false}, accesses, {}}};
    auto coalesced = m.make("ideal"), replayed = m.make("ideal");
    coalesced->on_loop_repeats(body, 5);
    replayed->Backend::on_loop_repeats(body, 5);
    expect_same_counters(coalesced->counters(), replayed->counters());
    EXPECT_EQ(coalesced->counters().tlb.l1d_lookups, 10u);
}

TEST(IdealBackend, OracleCatchesAWrongTranslation) {
    vmmu::testing::Machine m;
    auto b = m.make("ideal");
    // The entry maps the gVA's page, so the gVA's offset must be the gPA's: here it is not.
    EXPECT_THROW(b->on_access(read_of(kVa + 8, kPa + 16)), OracleMismatch);
    EXPECT_THROW(b->on_fetch(Fetch{GuestVirt(0x1000), GuestPhys(0x2008), 16, 1, false}),
                 OracleMismatch);
    m.env.oracle = false;
    auto unchecked = m.make("ideal");
    EXPECT_NO_THROW(unchecked->on_access(read_of(kVa + 8, kPa + 16)));
}
