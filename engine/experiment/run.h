// One vmmu run: a workload booted once, every requested backend attached to the same stream.
// Shared by `vmmu run`, the studies, validation and the regression suite.
#pragma once

#include "engine/experiment/workloads.h"
#include "engine/core/machine.h"
#include "engine/host/dedup.h"
#include "engine/host/frame_tracker.h"
#include "engine/host/host_frames.h"
#include "engine/host/p2m.h"
#include "engine/mmu/backend.h"
#include "engine/mmu/backend_env.h"
#include "engine/mmu/profile.h"

#include <nlohmann/json.hpp>

#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace vmmu {

struct PreparedRun;

struct RunOptions {
    std::string workload = "hello";
    std::vector<std::string> params; // KEY=VALUE overrides
    std::vector<std::string> backends = {"native", "shadow", "slat"};
    std::string profile = "nehalem-2009";               // for every backend...
    std::map<std::string, std::string> backend_profile; // ...unless named here per backend
    std::string guest_pages = "4k"; // 4k | 2m: the guest kernel's anonymous memory
    std::string ept_pages = "4k";   // 4k | 2m | 1g
    bool pwc = true, ntlb = true, oracle = true;
    // Walk references priced by the cache level that served them (engine/mmu/cache.h), or the
    // profile's flat latency.walk_ref; price_data also prices data accesses beyond L1D.
    bool caches = true, price_data = false;
    std::vector<std::string> shadow_opts; // KEY=VALUE
    uint64_t guest_mib = 1024;
    uint64_t timer_period = 1'000'000;
    uint64_t max_instructions = 0;
    std::string kernel;                // default: DATA/guest/kernel.elf (paths.h)
    std::vector<std::string> programs; // extra program ELFs
    bool echo_console = false;
    // Host memory deduplication (engine/host/dedup.h): scanner period and pages per pass.
    bool dedup = false;
    uint64_t dedup_period = kDefaultDedupPeriod;
    uint64_t dedup_pages = kDefaultDedupPages;
    // Demo hooks (not serialized): every VM exit of every backend, as it happens, and the
    // finished run before it is destroyed (its machine, memory and backends are still live).
    std::function<void(const std::string& backend, const ExitRecord&)> exit_trace;
    std::function<void(const PreparedRun&)> inspect;
    // MachineConfig::coalesce_blocks (not serialized; off whenever exit_trace is set). The
    // counters are the same either way: tests compare the two.
    bool coalesce_blocks = true;
};

struct BackendResult {
    std::string name;
    std::string profile;
    BackendCounters counters;
    CycleBreakdown cycles;
};

// What deduplication did in a run: host-wide, and for this VM's frames.
struct DedupResult {
    DedupConfig config;
    DedupCounters host;
    DedupCounters vm;
};

struct RunOutput {
    RunOptions options;
    std::optional<DedupResult> dedup; // with --dedup
    Workload workload;
    std::map<std::string, uint64_t> params;
    RunResult result;
    std::vector<BackendResult> backends;
};

// Validates the options (throws std::invalid_argument naming the bad value and the choices),
// runs the guest and collects every backend's counters and cycles.
RunOutput execute_run(const RunOptions& options);

// execute_run in steps, for callers that drive the machine themselves (several VMs): a booted
// machine with every requested backend attached (first, in order), not yet run. The host side
// of the VM (its frames on the host, its p2m) lives here, beside the machine, not in it.
struct PreparedRun {
    RunOutput out;                    // result still empty
    std::deque<Profile> profiles;     // outlive the backends that point at them
    std::shared_ptr<HostFrames> host; // shared by every VM on the host
    int vm = 0;                       // this VM's index there
    std::unique_ptr<P2m> p2m;
    std::vector<std::unique_ptr<Backend>> backends;        // out.backends' order
    std::vector<std::unique_ptr<GuestObserver>> observers; // attached after the backends
    std::unique_ptr<Machine> machine;
};
// Where the VM sits on its host: the host's frames (shared by every VM) and the VM's index; the
// machine calls on_shared_write before a guest write to a frame the host shares.
struct HostSlot {
    std::shared_ptr<HostFrames> frames;
    int vm = 0;
    std::function<void(GuestPhys)> on_shared_write;
};
// Without a slot the VM is alone on a host of its own (host_layout of one VM).
std::unique_ptr<PreparedRun> prepare_run(const RunOptions& options, const HostSlot* slot = nullptr);
// Applies every rule a run applies to its options (workload, parameters, sizes, profiles, each
// backend's own options) without running the guest: commands that start several runs call it
// for each before the first starts. Throws std::invalid_argument as execute_run would.
void check_run_options(const RunOptions& o);
// "2M" -> "2m": page sizes are accepted in either case.
std::string lower_page_size(std::string size);
// Attaches a frame tracker after the backends (the frames the host backs for this VM) and, with
// a deduplicating host, tells the scanner about the VM (its memory, p2m and backends).
FrameTracker& track_frames(PreparedRun& p, Deduplicator* dedup);
// Copies every requested backend's counters and cycles into p.out (after p.out.result is set).
// With deduplication, the host's scan work for this VM is charged to every backend that has a
// hypervisor (not native) and its counters go in p.out.dedup.
void collect_backends(PreparedRun& p, const Deduplicator* dedup = nullptr, size_t vm = 0);
// Rejects bad deduplication options (throws std::invalid_argument naming the fix).
void check_dedup_options(const RunOptions& o);

// Exit code for a finished run: 0 ok, 3 guest error or failed self-check, 4 oracle mismatch,
// 130 interrupted by a signal.
int run_exit_code(const RunResult& r);
// "ok", "guest_error", "incomplete" (budget, interrupted), "oracle_mismatch".
std::string run_status(const RunResult& r);

} // namespace vmmu
