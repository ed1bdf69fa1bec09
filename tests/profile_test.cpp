#include "engine/mmu/cost.h"
#include "engine/mmu/profile.h"
#include "engine/output/report_json.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <string>
#include <tuple>
#include <vector>

using namespace vmmu;

namespace {
std::filesystem::path profile_dir() {
    return std::filesystem::path(VMMU_SOURCE_DIR) / "workloads/profiles";
}

nlohmann::json nehalem_json() {
    std::ifstream in(profile_dir() / "nehalem-2009.json");
    return nlohmann::json::parse(in);
}

// The message of the invalid_argument thrown when parsing j.
std::string parse_error(const nlohmann::json& j) {
    try {
        parse_profile(j, "test");
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "(no error)";
}
} // namespace

TEST(Profile, EveryShippedProfileLoadsWithSourcesForEveryGroup) {
    auto names = profile_names(profile_dir());
    ASSERT_GE(names.size(), 3u);
    for (const auto& name : names) {
        Profile p = load_profile(name, profile_dir());
        EXPECT_EQ(p.name, name);
        EXPECT_GT(p.core_ghz, 0);
        EXPECT_GT(p.tlb.stlb.entries, 0u);
        EXPECT_GT(p.exit_round_trip_cycles, 0);
        for (auto& [path, source] : p.sources) EXPECT_FALSE(source.empty()) << name << " " << path;
        EXPECT_TRUE(p.sources.count("vm_exit.handler.pt_write")) << name;
    }
}

TEST(Profile, ShippedGenerationsHaveTheDocumentedFeatures) {
    Profile penryn = load_profile("penryn-2008", profile_dir());
    Profile nehalem = load_profile("nehalem-2009", profile_dir());
    EXPECT_FALSE(penryn.ept);
    EXPECT_FALSE(penryn.vpid);
    EXPECT_FALSE(penryn.ntlb);
    EXPECT_TRUE(nehalem.ept);
    EXPECT_TRUE(nehalem.vpid);
    EXPECT_EQ(nehalem.exit_round_trip_cycles, 2000);
    EXPECT_EQ(nehalem.tlb.stlb.entries, 512u);
}

TEST(Profile, FindsTheProfileDirectoryFromASubdirectory) {
    auto dir = find_profile_dir(std::filesystem::path(VMMU_SOURCE_DIR) / "engine/mmu");
    EXPECT_EQ(std::filesystem::canonical(dir), std::filesystem::canonical(profile_dir()));
}

TEST(Profile, LoadsByFilePath) {
    Profile p = load_profile((profile_dir() / "penryn-2008.json").string(), "/nonexistent");
    EXPECT_EQ(p.name, "penryn-2008");
}

TEST(Profile, UnknownProfileNameListsTheKnownOnes) {
    try {
        load_profile("pentium-1993", profile_dir());
        FAIL();
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("nehalem-2009"), std::string::npos) << e.what();
    }
}

TEST(Profile, UnknownKeyIsRejectedWithItsPath) {
    auto j = nehalem_json();
    j["tlb"]["stlb"]["assoc"] = 4;
    EXPECT_EQ(parse_error(j), "profile nehalem-2009: tlb.stlb.assoc: unknown key");
    j = nehalem_json();
    j["turbo"] = true;
    EXPECT_EQ(parse_error(j), "profile nehalem-2009: turbo: unknown key");
}

TEST(Profile, NonPowerOfTwoSetsAreRejected) {
    auto j = nehalem_json();
    j["tlb"]["stlb"]["entries"] = 480; // 120 sets
    EXPECT_NE(parse_error(j).find("profile nehalem-2009: tlb.stlb.entries: 480 entries / 4 ways = "
                                  "120 sets: must be a power of two"),
              std::string::npos);
}

TEST(Profile, ZeroWaysAndZeroEntriesAreRejected) {
    auto j = nehalem_json();
    j["tlb"]["l1d_4k"]["ways"] = 0;
    EXPECT_NE(parse_error(j).find("tlb.l1d_4k.ways"), std::string::npos) << parse_error(j);
    j = nehalem_json();
    j["tlb"]["stlb"]["entries"] = 0;
    EXPECT_NE(parse_error(j).find("tlb.stlb.entries"), std::string::npos) << parse_error(j);
}

TEST(Profile, NegativeLatencyIsRejected) {
    auto j = nehalem_json();
    j["latency"]["walk_ref"]["value"] = -3;
    EXPECT_NE(
        parse_error(j).find("profile nehalem-2009: latency.walk_ref.value: -3 is out of range"),
        std::string::npos)
        << parse_error(j);
}

TEST(Profile, NumberWithoutSourceIsRejected) {
    auto j = nehalem_json();
    j["vm_exit"]["round_trip"].erase("source");
    EXPECT_EQ(parse_error(j), "profile nehalem-2009: vm_exit.round_trip.source: missing");
}

TEST(Profile, MissingExitReasonHandlerIsRejected) {
    auto j = nehalem_json();
    j["vm_exit"]["handler"].erase("hlt");
    EXPECT_EQ(parse_error(j), "profile nehalem-2009: vm_exit.handler.hlt: missing");
}

TEST(Profile, NestedTlbWithoutEptIsRejected) {
    auto j = nehalem_json();
    j["features"]["ept"] = false;
    EXPECT_NE(parse_error(j).find("features.ept"), std::string::npos) << parse_error(j);
}

TEST(Profile, MalformedJsonFileNamesTheFile) {
    auto file = std::filesystem::temp_directory_path() / "vmmu-bad-profile.json";
    std::ofstream(file) << "{\"name\": ";
    try {
        load_profile_file(file);
        FAIL();
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("vmmu-bad-profile"), std::string::npos);
    }
    std::filesystem::remove(file);
}

TEST(Profile, CacheGeometryThatIsNotAPowerOfTwoIsRejectedWithItsPath) {
    auto j = nehalem_json();
    j["caches"]["l2"]["size_kib"] = 384; // 768 sets
    EXPECT_NE(parse_error(j).find("profile nehalem-2009: caches.l2.size_kib: 384 KiB / (8 ways × "
                                  "64-byte lines) = 768 sets: must be a power of two"),
              std::string::npos)
        << parse_error(j);
    j = nehalem_json();
    j["caches"]["line_bytes"] = 48;
    EXPECT_EQ(parse_error(j), "profile nehalem-2009: caches.line_bytes: must be a power of two");
}

TEST(Profile, CacheLevelWithZeroWaysIsRejected) {
    auto j = nehalem_json();
    j["caches"]["llc"]["ways"] = 0;
    EXPECT_EQ(parse_error(j), "profile nehalem-2009: caches.llc.ways: must be >= 1");
}

TEST(Profile, CacheLatenciesOutOfOrderAreRejected) {
    auto j = nehalem_json();
    j["caches"]["l1d"]["latency"] = 12; // above L2's 10
    EXPECT_EQ(parse_error(j), "profile nehalem-2009: caches.l1d.latency: 12 cycles is more than "
                              "caches.l2.latency (10): latencies must not decrease from L1D to "
                              "memory");
    j = nehalem_json();
    j["caches"]["memory"]["value"] = 20;
    EXPECT_NE(parse_error(j).find("caches.llc.latency"), std::string::npos) << parse_error(j);
}

TEST(Profile, ShippedProfilesDescribeTheirCacheHierarchies) {
    Profile n = load_profile("nehalem-2009", profile_dir());
    EXPECT_EQ(n.caches.l1d.size_kib, 32u);
    EXPECT_EQ(n.caches.l2.size_kib, 256u);
    EXPECT_EQ(n.caches.llc.size_kib, 8192u);
    EXPECT_TRUE(n.caches.llc_inclusive);
    EXPECT_TRUE(n.sources.count("caches.walker_l1d"));
    Profile p = load_profile("penryn-2008", profile_dir());
    EXPECT_FALSE(p.caches.l2.present()) << "Penryn's shared L2 is its last level";
    EXPECT_EQ(p.caches.llc.ways, 24u);
}

TEST(CostModel, WithCachesEachWalkReferenceCostsTheLatencyOfTheLevelThatServedIt) {
    Profile p = load_profile("nehalem-2009", profile_dir());
    BackendCounters c;
    c.walks.refs = 10;
    c.walks.pwc_hits = 3;
    c.caches.modelled = true;
    c.caches.walk[0] = {1, 2, 3, 0}; // guest: L1, L2, LLC
    c.caches.walk[1] = {0, 0, 0, 4}; // nested: memory
    c.caches.data = {100, 10, 5, 1};
    CycleBreakdown b = compute_cycles(c, p, 0);
    double refs = 1 * p.caches.l1d.latency + 2 * p.caches.l2.latency + 3 * p.caches.llc.latency +
                  4 * p.caches.memory_latency;
    EXPECT_DOUBLE_EQ(b.walk, refs + 3 * p.pwc_hit_cycles);
    EXPECT_DOUBLE_EQ(b.data, 0) << "data misses stay inside base CPI unless priced";
    c.caches.price_data = true;
    b = compute_cycles(c, p, 0);
    double l1 = p.caches.l1d.latency;
    EXPECT_DOUBLE_EQ(b.data, 10 * (p.caches.l2.latency - l1) + 5 * (p.caches.llc.latency - l1) +
                                 1 * (p.caches.memory_latency - l1));
    EXPECT_DOUBLE_EQ(b.total(), b.base + b.walk + b.exit + b.handler + b.data);
}

TEST(CostModel, EachPartFollowsItsFormula) {
    Profile p = load_profile("nehalem-2009", profile_dir());
    BackendCounters c;
    c.walks.refs = 100;
    c.walks.pwc_hits = 10;
    c.walks.ntlb_hits = 5;
    c.exits.count(ExitReason::EptViolation, 3);
    c.exits.count(ExitReason::Timer, 2);
    c.details[std::string(kDetailHvRefs)] = 7;
    CycleBreakdown b = compute_cycles(c, p, 1000);
    EXPECT_DOUBLE_EQ(b.base, 1000 * p.base_cpi);
    EXPECT_DOUBLE_EQ(b.walk,
                     100 * p.walk_ref_cycles + 10 * p.pwc_hit_cycles + 5 * p.ntlb_hit_cycles);
    EXPECT_DOUBLE_EQ(b.exit, 5 * p.exit_round_trip_cycles);
    EXPECT_DOUBLE_EQ(b.handler, 3 * p.handler(ExitReason::EptViolation) +
                                    2 * p.handler(ExitReason::Timer) + 7 * p.walk_ref_cycles);
    EXPECT_DOUBLE_EQ(b.total(), b.base + b.walk + b.exit + b.handler);
}

TEST(ReportJson, KeysComeOutInTheSchemaOrder) {
    BackendCounters c;
    c.walks.walks = 4;
    c.walks.refs = 10;
    c.exits.count(ExitReason::Io);
    c.details["zapped"] = 2;
    auto j = backend_json(c, CycleBreakdown{1, 2, 3, 4});
    std::vector<std::string> top;
    for (auto& [k, v] : j.items()) top.push_back(k);
    EXPECT_EQ(top,
              (std::vector<std::string>{"tlb", "walks", "caches", "exits", "details", "cycles"}));
    EXPECT_EQ(j["caches"].dump(), R"({"modelled":false})") << "--caches off: nothing else";
    EXPECT_DOUBLE_EQ(j["walks"]["refs_per_walk"].get<double>(), 2.5);
    EXPECT_EQ(j["exits"]["total"], 1);
    EXPECT_EQ(j["exits"]["by_reason"]["io"], 1);
    EXPECT_EQ(j["exits"]["by_reason"].size(), 14u); // with hv_switch_as and hv_flush
    EXPECT_EQ(j["details"]["zapped"], 2);
    EXPECT_DOUBLE_EQ(j["cycles"]["total"].get<double>(), 10.0);
    EXPECT_EQ(j.dump(), backend_json(c, CycleBreakdown{1, 2, 3, 4}).dump());
    // Hyper-V's counter names come after the details, only when a scheme filled them.
    c.hyperv["Address Space Switches"] = 3;
    top.clear();
    auto with_hyperv = backend_json(c, CycleBreakdown{});
    for (auto& [k, v] : with_hyperv.items()) top.push_back(k);
    EXPECT_EQ(top, (std::vector<std::string>{"tlb", "walks", "caches", "exits", "details",
                                             "hyperv_counters", "cycles"}));
}

namespace {

// Every constant of a profile by its key path, to see what an override changed.
std::map<std::string, double> constants(const Profile& p) {
    std::map<std::string, double> m = {{"core_ghz.value", p.core_ghz},
                                       {"base_cpi.value", p.base_cpi},
                                       {"features.ept", p.ept},
                                       {"features.vpid", p.vpid},
                                       {"features.pcid", p.pcid},
                                       {"features.apicv", p.apicv},
                                       {"features.ipiv", p.ipiv},
                                       {"tlb.stlb.holds_2m", p.tlb.stlb_holds_2m},
                                       {"pwc.nested.present", p.nested_pwc},
                                       {"ntlb.present", p.ntlb},
                                       {"ntlb.entries", p.ntlb_geometry.entries},
                                       {"ntlb.ways", p.ntlb_geometry.ways},
                                       {"latency.walk_ref.value", p.walk_ref_cycles},
                                       {"latency.pwc_hit.value", p.pwc_hit_cycles},
                                       {"latency.ntlb_hit.value", p.ntlb_hit_cycles},
                                       {"vm_exit.round_trip.value", p.exit_round_trip_cycles}};
    auto geometry = [&](const char* key, const TlbArrayGeometry& g) {
        m[std::string("tlb.") + key + ".entries"] = g.entries;
        m[std::string("tlb.") + key + ".ways"] = g.ways;
    };
    geometry("l1i", p.tlb.l1i);
    geometry("l1d_4k", p.tlb.l1d_4k);
    geometry("l1d_large", p.tlb.l1d_large);
    geometry("stlb", p.tlb.stlb);
    for (auto [key, c] : {std::pair{"guest", p.pwc}, std::pair{"nested", p.pwc_nested}}) {
        m[std::string("pwc.") + key + ".pml4e"] = c.pml4e;
        m[std::string("pwc.") + key + ".pdpte"] = c.pdpte;
        m[std::string("pwc.") + key + ".pde"] = c.pde;
    }
    for (size_t r = 0; r < kExitReasonNames.size(); ++r)
        m[std::string("vm_exit.handler.") + std::string(kExitReasonNames[r]) + ".value"] =
            p.handler_cycles[r];
    return m;
}

std::string set_error(const std::vector<std::string>& sets) {
    try {
        load_profile("nehalem-2009", profile_dir(), sets);
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "(no error)";
}

} // namespace

TEST(Profile, SetChangesExactlyTheNamedConstantAndSaysSoInItsSource) {
    Profile plain = load_profile("nehalem-2009", profile_dir());
    auto before = constants(plain);
    for (auto [set, key, value] :
         {std::tuple{"tlb.stlb.entries=1024", "tlb.stlb.entries", 1024.0},
          std::tuple{"vm_exit.round_trip.value=1200", "vm_exit.round_trip.value", 1200.0},
          std::tuple{"vm_exit.handler.pt_write.value=4500", "vm_exit.handler.pt_write.value",
                     4500.0},
          std::tuple{"features.vpid=false", "features.vpid", 0.0},
          std::tuple{"features.apicv=true", "features.apicv", 1.0}}) {
        Profile p = load_profile("nehalem-2009", profile_dir(), {set});
        auto after = constants(p);
        for (auto& [k, v] : before) EXPECT_EQ(after[k], k == key ? value : v) << set << ": " << k;
        std::string group = std::string(key).substr(0, std::string(key).rfind('.'));
        for (auto& [g, source] : p.sources)
            EXPECT_EQ(source.find("overridden by --set") != std::string::npos, g == group)
                << set << ": " << g;
    }
}

TEST(Profile, SetRejectsUnknownKeysWrongKindsAndValuesTheProfileRules) {
    EXPECT_NE(set_error({"tlb.stlb.entrie=1024"}).find("has no key tlb.stlb.entrie"),
              std::string::npos);
    EXPECT_NE(set_error({"tlb.stlb.entrie=1024"}).find("entries, holds_2m"), std::string::npos);
    EXPECT_NE(set_error({"tlb.stlb.entries=big"}).find("must be a number"), std::string::npos);
    EXPECT_NE(set_error({"vm_exit.round_trip=1200"}).find("is a group"), std::string::npos);
    EXPECT_NE(set_error({"tlb.stlb.entries"}).find("expected KEY=VALUE"), std::string::npos);
    // The profile's own rule: 1000 entries in 4 ways is not a power-of-two number of sets.
    std::string e = set_error({"tlb.stlb.entries=1000"});
    EXPECT_NE(e.find("--set tlb.stlb.entries=1000"), std::string::npos) << e;
    EXPECT_NE(e.find("power of two"), std::string::npos) << e;
    EXPECT_NE(set_error({"vm_exit.round_trip.value=-5"}).find("out of range"), std::string::npos);
    // APIC virtualization: no CPU has it without EPT, and IPI virtualization builds on it.
    e = set_error({"features.apicv=true", "features.ept=false"});
    EXPECT_NE(e.find("features.apicv: APIC virtualization needs features.ept"), std::string::npos)
        << e;
    e = set_error({"features.ipiv=true"});
    EXPECT_NE(e.find("features.ipiv: IPI virtualization needs features.apicv"), std::string::npos)
        << e;
}

TEST(Profile, ApicVirtualizationIsOffInEveryShippedProfileAndOptionalInAProfileFile) {
    // None of the modelled processors had it (their features.source says where it first came).
    for (const std::string& name : profile_names(profile_dir())) {
        Profile p = load_profile(name, profile_dir());
        EXPECT_FALSE(p.apicv) << name;
        EXPECT_FALSE(p.ipiv) << name;
        EXPECT_NE(p.sources.at("features").find("Ivy Bridge-EP"), std::string::npos) << name;
    }
    // A profile file written before the keys existed still loads, without it.
    nlohmann::json j = nlohmann::json::parse(std::ifstream(profile_dir() / "nehalem-2009.json"));
    j["features"].erase("apicv");
    j["features"].erase("ipiv");
    Profile p = parse_profile(j, "test");
    EXPECT_FALSE(p.apicv);
    EXPECT_FALSE(p.ipiv);
}
