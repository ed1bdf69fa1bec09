// The oracle on every workload: all programs at a small size in one guest run, with native,
// shadow and slat attached and every translation checked against the guest's own tables, once
// per shadow policy setting ("the oracle holds on every workload at small size, with
// each shadow option on and off"); and the same counters whether the vCPU sends a loop's
// repeated iterations at once or one event at a time.
#include "engine/core/machine.h"
#include "tests/integration/kernel_config.h"
#include "engine/host/host_frames.h"
#include "engine/host/p2m.h"
#include "engine/mmu/profile.h"
#include "engine/mmu/registry.h"
#include "engine/mmu/machine_env.h"
#include "engine/output/report_json.h"
#include "vmmu/abi.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

namespace vmmu {
namespace {
namespace fs = std::filesystem;

const char* kEveryWorkload =
    "hello ; forkwait n=20 ; ctxswitch rounds=200 procs=2 ; gups table_mib=2 updates=20000 ; "
    "stream array_mib=1 iterations=1 ; mmapchurn rounds=20 region_kib=64 ; "
    "sessions sessions=2 actions=1 ws_mib=1 think_ticks=1 bursts=1 burst_updates=500";

// Every backend's counters after a run, as `vmmu run` reports them.
using Counters = std::map<std::string, nlohmann::ordered_json>;

// Every event a backend receives, in order, folded into one hash (accesses whole: addresses and
// size, a loop's repeats at their own offsets). It leaves on_loop_repeats to GuestObserver, which
// sends each repeat event by event, so its hash shows the order the vCPU delivers in; it counts
// the blocks that came as repeats, by the number of blocks in their loop's body.
class EventHash final : public GuestObserver {
public:
    uint64_t hash = 14695981039346656037ull, events = 0;
    std::map<size_t, uint64_t> repeated_blocks; // body size -> blocks sent as its repeats

    void on_loop_repeats(std::span<const BlockEvents> body, uint64_t k) override {
        repeated_blocks[body.size()] += k * body.size();
        GuestObserver::on_loop_repeats(body, k);
    }

    void on_access(const DataAccess& a) override {
        mix('A', a.va.value(), a.pa.value(), a.size * 4 + a.write * 2 + a.user);
    }
    void on_fetch(const Fetch& f) override {
        mix('F', f.va.value(), f.bytes, f.instructions * 2 + f.user);
    }
    void on_cr3_write(uint64_t rip, uint64_t v) override { mix('C', rip, v, 0); }
    void on_cr4_write(uint64_t rip, uint64_t v) override { mix('4', rip, v, 0); }
    void on_invlpg(uint64_t rip, GuestVirt va) override { mix('I', rip, va.value(), 0); }
    void on_pt_write(uint64_t rip, GuestPhys pa, uint64_t, uint64_t v, uint8_t) override {
        mix('P', rip, pa.value(), v);
    }
    void on_guest_fault(uint64_t rip, uint8_t vec, GuestVirt cr2, uint32_t code) override {
        mix('X', rip, cr2.value(), vec * 65536ull + code);
    }
    void on_timer(uint64_t rip) override { mix('T', rip, 0, 0); }
    void on_syscall(uint64_t rip) override { mix('S', rip, 0, 0); }
    void on_hlt(uint64_t rip) override { mix('H', rip, 0, 0); }
    void on_io(uint64_t rip, uint16_t port, bool w) override { mix('O', rip, port, w); }
    void on_sensitive(uint64_t rip, std::string_view) override { mix('Z', rip, 0, 0); }
    nlohmann::ordered_json json() const { return {{"events", events}, {"hash", hash}}; }

private:
    void mix(char kind, uint64_t a, uint64_t b, uint64_t c) {
        ++events;
        for (uint64_t v : {uint64_t(kind), a, b, c}) hash = (hash ^ v) * 1099511628211ull;
    }
};

RunResult run_all(const std::map<std::string, std::string>& shadow_opts, uint64_t flags = 0,
                  Counters* counters = nullptr, bool coalesce = true,
                  const char* profile_name = "nehalem-2009", unsigned ept_page_shift = 12,
                  EventHash* hash = nullptr) {
    MachineConfig c = testing::kernel_config(kEveryWorkload);
    c.guest_bytes = uint64_t{256} << 20;
    c.boot_flags = flags;
    c.coalesce_blocks = coalesce;
    const Profile profile = load_profile(profile_name, find_profile_dir(fs::path(VMMU_SOURCE_DIR)));
    Machine m(c);
    // Alone on a host of its own: one VM's range of the host layout.
    HostFrames host(host_layout({c.guest_bytes}));
    P2m p2m(HostPhys(host.range(0).base));
    std::vector<std::unique_ptr<Backend>> backends;
    for (const char* name : {"native", "shadow", "slat"}) {
        BackendEnv env = backend_env_for(m, p2m, &host, 0);
        env.profile = &profile;
        env.oracle = true;
        env.caches = true; // the data-cache hierarchy sees every access, repeats included
        env.ept_page_shift = ept_page_shift;
        if (std::string(name) == "shadow") env.options = shadow_opts;
        backends.push_back(create_backend(name, env));
        m.attach(*backends.back());
    }
    EventHash events;
    if (hash) m.attach(events);
    RunResult r = m.run();
    if (hash) *hash = events;
    if (counters) {
        for (auto& b : backends)
            (*counters)[b->name()] = backend_json(b->counters(), b->cycles(r.guest.instructions));
        if (hash) (*counters)["event-hash"] = events.json();
    }
    return r;
}

void expect_clean(const RunResult& r) {
    EXPECT_EQ(r.stop, StopKind::Exited) << r.message << " at " << r.symbol;
    EXPECT_EQ(r.exit_status, 0) << r.console;
}

TEST(OracleOnEveryWorkload, DefaultShadowPolicies) { expect_clean(run_all({})); }
TEST(OracleOnEveryWorkload, ShadowWithoutUnsync) { expect_clean(run_all({{"unsync", "0"}})); }
TEST(OracleOnEveryWorkload, ShadowWithoutFloodDetectionOrRootCache) {
    expect_clean(run_all({{"flood_threshold", "0"}, {"prev_roots", "0"}}));
}
TEST(OracleOnEveryWorkload, ShadowUnderATightPageBudget) {
    expect_clean(run_all({{"page_budget", "64"}}));
}
TEST(OracleOnEveryWorkload, TwoMegabyteGuestPages) {
    expect_clean(run_all({}, VMMU_BOOT_FLAG_GUEST_2M));
}

// The vCPU sends a loop's repeated iterations as one on_loop_repeats() per backend (Vcpu,
// Backend); each backend must count exactly what the iterations sent one event at a time
// would. Every workload, both ways, every counter and cycle figure: with VPID and without
// (where every exit flushes the TLBs, so repeats meet a changed TLB), with large guest pages,
// with 1G EPT pages, and under a shadow page budget that keeps evicting.
// Also the order: every event reaches a backend that sends repeats event by event exactly as
// without coalescing. And that loops of one block and of several are both found.
void expect_same_counters(uint64_t flags, const char* profile, unsigned ept_page_shift,
                          const std::map<std::string, std::string>& shadow_opts = {}) {
    Counters coalesced, each;
    EventHash coalesced_events, each_events;
    RunResult a =
        run_all(shadow_opts, flags, &coalesced, true, profile, ept_page_shift, &coalesced_events);
    RunResult b = run_all(shadow_opts, flags, &each, false, profile, ept_page_shift, &each_events);
    expect_clean(a);
    expect_clean(b);
    EXPECT_EQ(coalesced_events.events, each_events.events);
    EXPECT_EQ(coalesced_events.hash, each_events.hash);
    EXPECT_GT(each_events.events, a.guest.data_accesses + a.guest.blocks - 1);
    EXPECT_TRUE(each_events.repeated_blocks.empty());
    uint64_t one_block = 0, longer = 0; // blocks sent as repeats of loops of one block, of more
    for (auto [len, n] : coalesced_events.repeated_blocks) (len == 1 ? one_block : longer) += n;
    EXPECT_GT(one_block, a.guest.blocks / 2);
    EXPECT_GT(longer, a.guest.blocks / 50);
    EXPECT_EQ(a.guest.instructions, b.guest.instructions);
    EXPECT_EQ(a.guest.data_accesses, b.guest.data_accesses);
    EXPECT_EQ(a.guest.blocks, b.guest.blocks);
    ASSERT_EQ(coalesced.size(), 4u); // the three schemes and the hash
    for (auto& [name, json] : coalesced) EXPECT_EQ(json.dump(1), each.at(name).dump(1)) << name;
}

// A run cut into quanta (several VMs, --max-instructions) ends each with everything that ran
// sent: after every slice, the backends have seen what they would one event at a time.
TEST(LoopRepeats, AreAllSentWhenAQuantumEnds) {
    std::unique_ptr<Machine> m[2];
    EventHash h[2];
    for (int i = 0; i < 2; ++i) {
        MachineConfig c = testing::kernel_config("gups table_mib=1 updates=2000 ; hello");
        c.guest_bytes = uint64_t{64} << 20;
        c.coalesce_blocks = i == 0;
        m[i] = std::make_unique<Machine>(c);
        m[i]->attach(h[i]);
    }
    RunResult r[2];
    int slices = 0;
    do {
        for (int i = 0; i < 2; ++i) r[i] = m[i]->run_for(7919);
        ASSERT_EQ(r[0].guest.instructions, r[1].guest.instructions);
        ASSERT_EQ(h[0].events, h[1].events) << "slice " << slices;
        ASSERT_EQ(h[0].hash, h[1].hash) << "slice " << slices;
        ++slices;
    } while (r[0].stop == StopKind::Quantum);
    expect_clean(r[0]);
    EXPECT_GT(slices, 100);
}

TEST(LoopRepeats, CountExactlyAsEveryEventDoes) { expect_same_counters(0, "nehalem-2009", 12); }
TEST(LoopRepeats, CountExactlyAsEveryEventDoesWithoutVpid) {
    expect_same_counters(0, "penryn-2008", 12);
}
TEST(LoopRepeats, CountExactlyAsEveryEventDoesWithLargePages) {
    expect_same_counters(VMMU_BOOT_FLAG_GUEST_2M, "skylake-2015", 30);
}
TEST(LoopRepeats, CountExactlyAsEveryEventDoesUnderAShadowPageBudget) {
    expect_same_counters(0, "penryn-2008", 21, {{"page_budget", "64"}});
}

} // namespace
} // namespace vmmu
