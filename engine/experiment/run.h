// One vmmu run: a workload booted once, every requested backend attached to the same stream.
// Shared by `vmmu run`, the studies, validation and the regression suite.
#pragma once

#include "engine/experiment/provenance.h"
#include "engine/experiment/windows.h"
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
    std::vector<std::string> profile_sets; // --set KEY=VALUE on every backend's profile
    std::string guest_pages = "4k";        // 4k | 2m: the guest kernel's anonymous memory
    std::string ept_pages = "4k";          // 4k | 2m | 1g
    bool pwc = true, ntlb = true, oracle = true;
    // Walk references priced by the cache level that served them (engine/mmu/cache.h), or the
    // profile's flat latency.walk_ref; price_data also prices data accesses beyond L1D.
    bool caches = true, price_data = false;
    std::vector<std::string> shadow_opts; // KEY=VALUE
    // The hypervisor personality CPUID shows the guest: none | kvm | hyperv
    // (engine/core/hypervisor.h).
    std::string hypervisor = "none";
    unsigned ept_levels = 4; // nested page-walk length: 4 | 5 (5-level EPT)
    // --NAME-opt KEY=VALUE of every other scheme that registers options (engine/mmu/registry.h)
    std::map<std::string, std::vector<std::string>> scheme_opts;
    uint64_t guest_mib = 1024;
    uint64_t timer_period = 1'000'000;
    uint64_t max_instructions = 0;
    // vCPUs of the VM and their round-robin quantum (MachineConfig::vcpus, vcpu_quantum).
    unsigned vcpus = 1;
    uint64_t vcpu_quantum = kDefaultVcpuQuantum;
    std::string kernel;                // default: DATA/guest/kernel.elf (paths.h)
    std::vector<std::string> programs; // extra program ELFs
    bool echo_console = false;
    // Host memory deduplication (engine/host/dedup.h): scanner period and pages per pass.
    bool dedup = false;
    uint64_t dedup_period = kDefaultDedupPeriod;
    uint64_t dedup_pages = kDefaultDedupPages;
    // Windows (engine/experiment/windows.h): instructions of warm-up excluded from every window
    // (the models keep warming), the period of the time series (0: none), and which window the
    // table, comparisons and studies use: "roi" (the regions, when the workload marks any;
    // otherwise the whole run) or "whole".
    uint64_t warmup = 0;
    uint64_t interval = 0;
    std::string measure = "roi";
    // Demo hooks (not serialized): every VM exit of every backend, as it happens, and the
    // finished run before it is destroyed (its machine, memory and backends are still live).
    std::function<void(const std::string& backend, const ExitRecord&)> exit_trace;
    std::function<void(const PreparedRun&)> inspect;
    // Every region marker and sample point, as the guest reaches it (not serialized).
    std::function<void(const Boundary&)> boundary_trace;
    // When inspect runs (not serialized): at the first region of interest's begin marker
    // (inspect_at_region), after inspect_at_instruction guest instructions (block granularity;
    // 0: not), or, by default or when the run ends before that moment, once the run has ended.
    // A run inspected at a moment stops there (StopKind::Quantum) and PreparedRun::inspected_at
    // says where.
    bool inspect_at_region = false;
    uint64_t inspect_at_instruction = 0;
    // MachineConfig::coalesce_blocks (not serialized; off whenever exit_trace is set). The
    // counters are the same either way: tests compare the two.
    bool coalesce_blocks = true;
};

struct BackendResult {
    std::string name;
    std::string profile;
    BackendCounters counters;
    CycleBreakdown cycles;
    double core_ghz = 0; // the profile's clock (modelled time = cycles / core_ghz)
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
    std::vector<BackendResult> backends; // whole-run totals, warm-up included
    RunWindows windows;
    std::string measured_window = kWindowWhole; // the window --measure selected

    // The measured window: its guest counters and each backend's counters and cycles.
    const Window& measured() const { return windows.windows.at(measured_window); }
    std::vector<BackendResult> measured_backends() const;
    std::vector<BackendResult> window_backends(const Window& w) const;
    Provenance provenance; // versions, input hashes, --set overrides
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
    std::unique_ptr<WindowRecorder> recorder; // every boundary of the machine
    // Where RunOptions::inspect ran: "" (at the end of the run), or the moment, in words.
    std::string inspected_at;
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
// --hypervisor parsed (std::invalid_argument naming the valid values), and whether a backend on
// a profile can stand for that hypervisor (std::invalid_argument naming the fix).
Hypervisor checked_hypervisor(const RunOptions& o);
void check_personality(Hypervisor h, const std::string& backend, const Profile& p);
// Attaches a frame tracker after the backends (the frames the host backs for this VM) and, with
// a deduplicating host, tells the scanner about the VM (its memory, p2m and backends).
FrameTracker& track_frames(PreparedRun& p, Deduplicator* dedup);
// Copies every requested backend's counters and cycles into p.out (after p.out.result is set).
// With deduplication, the host's scan work for this VM is charged to every backend that has a
// hypervisor (not native) and its counters go in p.out.dedup.
void collect_backends(PreparedRun& p, const Deduplicator* dedup = nullptr, size_t vm = 0);
// Rejects an EPT page-walk length other than 4 or 5 (throws std::invalid_argument).
void check_ept_levels(const RunOptions& o);
// Rejects bad deduplication options (throws std::invalid_argument naming the fix).
void check_dedup_options(const RunOptions& o);
// Rejects --vcpus outside 1..8 and --vcpu-quantum 0 (throws std::invalid_argument).
void check_vcpu_options(const RunOptions& o);
// Rejects a bad --measure (--interval 0 is rejected where the flag is parsed).
void check_window_options(const RunOptions& o);

// Exit code for a finished run: 0 ok, 3 guest error or failed self-check, 4 oracle mismatch,
// 130 interrupted by a signal.
int run_exit_code(const RunResult& r);
// "ok", "guest_error", "incomplete" (budget, interrupted), "oracle_mismatch".
std::string run_status(const RunResult& r);

} // namespace vmmu
