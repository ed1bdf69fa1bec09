#include "engine/core/machine.h"

#include "engine/core/boot.h"
#include "engine/core/elf_image.h"
#include "engine/core/paging.h"
#include "engine/core/vcpu.h"
#include "vmmu/abi.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>

namespace vmmu {
namespace {
// Every started vCPU waiting this many times in a row with no instruction between: nothing will
// ever run again (as BlockClock's limit for one vCPU).
constexpr uint64_t kMaxIdleRounds = 10'000'000;
} // namespace

// The vCPUs of one VM and their scheduling (docs/ARCHITECTURE.md, "Several vCPUs"): round-robin
// in quanta of guest instructions, CPU 0 first; a halted vCPU waits until an interrupt is due.
struct Machine::Impl final : CpuBus {
    const MachineConfig& config;
    const std::vector<GuestObserver*>& observers;
    ElfImage kernel;
    std::vector<ElfImage> programs;
    BootState boot;
    PortShared shared;
    std::vector<std::unique_ptr<Vcpu>> vcpus;
    struct Slot {
        bool started = false;
        uint64_t halted_at = 0; // VM time when it halted
        uint64_t wait = 0;      // guest time from then to its next tick
    };
    std::vector<Slot> slots;
    unsigned started = 1;   // vCPUs started (CPU 0 boots started)
    unsigned next = 0;      // the vCPU whose turn is next
    unsigned running = 0;   // the vCPU that ran last (the observers' current one)
    uint64_t idle_time = 0; // guest time skipped while every started vCPU waited
    uint64_t idle_rounds = 0;
    uint64_t turn_left = 0; // of the turn run_for's limit cut short (0: none)
    std::function<void(unsigned, uint64_t)> switch_listener;
    // Sample points (MachineConfig::sample_*) count the VM's instructions: the next one no vCPU
    // has reached yet (UINT64_MAX: none), handed to each vCPU's clock for its turn.
    uint64_t next_sample = UINT64_MAX;

    Impl(const MachineConfig& c, const std::vector<GuestObserver*>& o) : config(c), observers(o) {}

    uint64_t instructions() const {
        uint64_t n = 0;
        for (auto& v : vcpus) n += v->instructions();
        return n;
    }
    // VM time: instructions every vCPU retired, plus what was skipped with all of them waiting.
    uint64_t vm_time() const { return instructions() + idle_time; }
    uint64_t others_instructions(unsigned cpu) const override {
        return instructions() - vcpus[cpu]->instructions();
    }
    GuestCounters counters() const {
        GuestCounters c;
        for (auto& v : vcpus) c += v->guest_counters();
        return c;
    }

    uint32_t ipi(unsigned from, uint8_t vector, unsigned dest, unsigned shorthand) override {
        if (vector < 32)
            throw std::runtime_error(fmt::format(
                "IPI vector {} is an exception vector; use 32 to 255 (abi.h VMMU_VEC_IPI_*)",
                vector));
        if (shorthand == VMMU_APIC_SH_ALL_BUT_SELF) {
            uint32_t reached = 0;
            for (unsigned i = 0; i < vcpus.size(); ++i)
                if (i != from && slots[i].started) {
                    vcpus[i]->lapic().raise(vector);
                    reached |= 1u << i;
                }
            return reached;
        }
        if (shorthand != VMMU_APIC_SH_DEST)
            throw std::runtime_error(fmt::format(
                "IPI shorthand {}: valid are 0 (the destination) and 1 (all but self)", shorthand));
        if (dest >= vcpus.size() || !slots[dest].started)
            throw std::runtime_error(fmt::format(
                "IPI to CPU {}, which {}", dest,
                dest >= vcpus.size() ? fmt::format("does not exist (--vcpus {})", vcpus.size())
                                     : std::string("was never started")));
        vcpus[dest]->lapic().raise(vector);
        return 1u << dest;
    }

    void eoi(unsigned cpu) override { vcpus[cpu]->lapic().eoi(); }

    uint32_t hv_flush_targets(unsigned from, uint64_t mask, bool all,
                              uint64_t address_space) override {
        if (!all && (mask >> vcpus.size()))
            throw std::runtime_error(fmt::format("processor mask {:#x} names a vCPU beyond the "
                                                 "VM's {}",
                                                 mask, vcpus.size()));
        uint32_t reached = 0;
        for (unsigned i = 0; i < vcpus.size(); ++i) {
            if (i == from || !slots[i].started || !(all || ((mask >> i) & 1))) continue;
            if (vcpus[i]->address_space() != address_space) continue;
            vcpus[i]->flush_functional_tlb();
            reached |= 1u << i;
        }
        return reached;
    }

    void hv_flush_observers(unsigned from, uint64_t rip, const HvFlush& f) override {
        HvFlush target = f;
        target.current = true;
        target.remote = true;
        for (unsigned i = 0; i < vcpus.size(); ++i) {
            if (i == from || !((f.vcpus >> i) & 1)) continue;
            for (GuestObserver* o : observers) {
                o->on_vcpu_switch(i);
                o->on_hv_flush(rip, target);
            }
        }
        for (GuestObserver* o : observers) o->on_vcpu_switch(from);
    }

    void start_cpu(unsigned from, uint64_t cpu, uint64_t rip, uint64_t rsp) override {
        if (cpu == 0 || cpu >= vcpus.size())
            throw std::runtime_error(
                fmt::format("start CPU {}: this VM has CPUs 0 to {} (--vcpus {}) and CPU 0 "
                            "boots by itself",
                            cpu, vcpus.size() - 1, vcpus.size()));
        if (slots[cpu].started)
            throw std::runtime_error(fmt::format("start CPU {}: it was started already", cpu));
        for (GuestObserver* o : observers)
            if (!o->models_vcpus())
                throw std::runtime_error(fmt::format(
                    "start CPU {}: an attached model does not model several vCPUs; run "
                    "without it (--backends with the schemes that do: native, shadow, slat, "
                    "agile, ideal; or none), or with --vcpus 1",
                    cpu));
        vcpus[cpu]->start(*vcpus[from], rip, rsp);
        for (GuestObserver* o : observers) o->on_vcpu_start(static_cast<unsigned>(cpu));
        vcpus[from]->end_quantum(); // until now it ran alone, without turns
        slots[cpu].started = true;
        ++started;
        for (auto& v : vcpus) v->track_timer();
    }

    // Halted vCPUs whose interrupt is due wake up; true when one can run.
    bool wake_due() {
        uint64_t now = vm_time();
        bool runnable = false;
        for (unsigned i = 0; i < vcpus.size(); ++i) {
            Slot& s = slots[i];
            if (!s.started) continue;
            Vcpu& v = *vcpus[i];
            if (v.halted() && !v.parked()) {
                uint64_t waited = now - s.halted_at;
                if (waited >= s.wait)
                    v.wake(waited, true);
                else if (v.lapic().deliverable())
                    v.wake(waited, false);
            }
            runnable |= !v.halted();
        }
        return runnable;
    }

    // Every started vCPU waits: skip guest time to the earliest tick.
    bool skip_idle() {
        if (++idle_rounds > kMaxIdleRounds) {
            vcpus[running]->stop(
                StopKind::GuestFault,
                fmt::format("every vCPU stayed idle {} times in a row: every process "
                            "is blocked",
                            kMaxIdleRounds));
            return false;
        }
        uint64_t now = vm_time(), skip = UINT64_MAX;
        for (unsigned i = 0; i < vcpus.size(); ++i)
            if (slots[i].started && !vcpus[i]->parked())
                skip = std::min(skip,
                                slots[i].wait - std::min(slots[i].wait, now - slots[i].halted_at));
        if (skip == UINT64_MAX) { // every started vCPU is parked
            vcpus[running]->stop_parked();
            return false;
        }
        idle_time += skip;
        return true;
    }

    RunResult finish(RunResult r) {
        r.guest = counters();
        r.vcpu = running;
        r.vcpus.clear();
        for (auto& v : vcpus) r.vcpus.push_back(v->guest_counters());
        return r;
    }

    // Runs the vCPUs until the guest stops, or `limit` more instructions have retired (0: none).
    RunResult run(uint64_t limit) {
        uint64_t end = limit ? instructions() + limit : UINT64_MAX;
        for (;;) {
            if (!wake_due()) {
                if (!skip_idle()) return finish(vcpus[running]->run());
                continue;
            }
            unsigned i = next;
            while (!slots[i].started || vcpus[i]->halted()) i = (i + 1) % vcpus.size();
            if (i != next) turn_left = 0;
            if (i != running) {
                // Every vCPU's loop coalescer settled when its turn ended: the observers have
                // seen all the last one ran.
                for (GuestObserver* o : observers) o->on_vcpu_switch(i);
                if (switch_listener) switch_listener(i, instructions());
                running = i;
            }
            Vcpu& v = *vcpus[i];
            uint64_t done = instructions();
            if (done >= end) {
                RunResult r;
                r.stop = StopKind::Quantum;
                r.rip = v.current_rip();
                return finish(r);
            }
            // Alone, CPU 0 runs without turns (as with one vCPU) until it starts another. A turn
            // that run_for's limit cut short goes on where it stopped, so how a host slices the
            // VM's time (several VMs, the dedup scanner's period) does not change its guest.
            uint64_t turn =
                started > 1 ? (turn_left ? turn_left : config.vcpu_quantum) : UINT64_MAX;
            turn_left = 0;
            uint64_t quantum = std::min(turn, end - done);
            if (config.max_instructions) {
                if (done >= config.max_instructions) {
                    v.stop(StopKind::Budget, fmt::format("instruction budget of {} exhausted",
                                                         config.max_instructions));
                    return finish(v.run());
                }
                quantum = std::min(quantum, config.max_instructions - done);
            }
            bool sampling = config.sample_period || config.sample_at;
            if (sampling) v.set_sample_base(done - v.instructions(), next_sample);
            RunResult r = v.run(quantum == UINT64_MAX ? 0 : quantum);
            if (sampling) next_sample = v.next_sample_point();
            if (instructions() != done) idle_rounds = 0;
            if (r.stop != StopKind::Quantum) return finish(r);
            if (v.halted()) {
                slots[i].halted_at = vm_time();
                slots[i].wait = v.until_next_tick();
            }
            uint64_t ran = instructions() - done;
            if (instructions() >= end && !v.halted() && turn != UINT64_MAX && ran < turn) {
                turn_left = turn - ran; // the limit, not the turn, ended it
                next = i;
                continue;
            }
            next = (i + 1) % vcpus.size();
        }
    }
};

Machine::Machine(const MachineConfig& config)
    : config_(config), memory_(std::make_unique<GuestMemory>(config.guest_bytes)),
      impl_(std::make_unique<Impl>(config_, observers_)) {
    if (config.guest_bytes < (uint64_t{64} << 20) || config.guest_bytes > (uint64_t{64} << 30))
        throw std::invalid_argument(
            fmt::format("guest memory of {} MiB is out of range: use 64 MiB to 64 GiB",
                        config.guest_bytes >> 20));
    if (config.vcpus < 1 || config.vcpus > VMMU_MAX_CPUS)
        throw std::invalid_argument(
            fmt::format("{} vCPUs: use 1 to {}", config.vcpus, VMMU_MAX_CPUS));
    if (config.vcpu_quantum == 0)
        throw std::invalid_argument("a vCPU quantum of 0 instructions: use at least 1");
    impl_->kernel = read_elf(config.kernel_path);
    std::vector<std::string> names;
    for (auto& p : config.program_paths) {
        impl_->programs.push_back(read_elf(p));
        names.push_back(std::filesystem::path(p).stem().string());
    }
    BootOptions opts{config.cmdline, config.timer_period, config.boot_flags, config.guest_levels,
                     config.vcpus};
    impl_->boot = load_guest(*memory_, impl_->kernel, impl_->programs, names, opts);
    for (unsigned i = 0; i < config.vcpus; ++i)
        impl_->vcpus.push_back(std::make_unique<Vcpu>(*memory_, impl_->boot, impl_->kernel, config_,
                                                      observers_, i, impl_->shared, *impl_));
    impl_->slots.resize(config.vcpus);
    impl_->slots[0].started = true;
    impl_->next_sample = impl_->vcpus[0]->next_sample_point();
}

Machine::~Machine() = default;

RunResult Machine::run_for(uint64_t instructions) {
    auto start = std::chrono::steady_clock::now();
    RunResult r =
        impl_->vcpus.size() == 1 ? impl_->vcpus[0]->run(instructions) : impl_->run(instructions);
    r.wall_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return r;
}

bool Machine::finished() const {
    return std::any_of(impl_->vcpus.begin(), impl_->vcpus.end(),
                       [](auto& v) { return v->finished(); });
}

uint64_t Machine::current_rip() const { return impl_->vcpus[impl_->running]->current_rip(); }

// The VM's guest time: what the other vCPUs retired plus the running one's count before the
// instruction it executes now.
uint64_t Machine::current_instructions() const {
    const auto& running = *impl_->vcpus[impl_->running];
    return impl_->instructions() - running.instructions() + running.current_instructions();
}

unsigned Machine::current_vcpu() const { return impl_->running; }

uint64_t Machine::initial_cr3() const { return impl_->boot.cr3; }

uint64_t Machine::initial_cr4() const {
    return x86::kCr4Pae | x86::kCr4Pge | (config_.guest_levels == 5 ? x86::kCr4La57 : 0);
}

void Machine::attach(GuestObserver& observer) { observers_.push_back(&observer); }

void Machine::on_boundary(std::function<void(const Boundary&)> listener) {
    // A boundary reached on one vCPU: the others are between quanta, their counters exact.
    auto shared = std::make_shared<std::function<void(const Boundary&)>>(std::move(listener));
    for (auto& v : impl_->vcpus) {
        Vcpu* self = v.get();
        v->on_boundary([this, self, shared](const Boundary& b) {
            if (impl_->vcpus.size() == 1) return (*shared)(b);
            Boundary all = b;
            for (auto& o : impl_->vcpus) {
                if (o.get() == self) {
                    all.vcpus.push_back(b.guest);
                    continue;
                }
                all.vcpus.push_back(o->guest_counters());
                all.guest += all.vcpus.back();
            }
            (*shared)(all);
        });
    }
}

void Machine::on_vcpu_switch(std::function<void(unsigned, uint64_t)> listener) {
    impl_->switch_listener = std::move(listener);
}

RunResult Machine::run() { return run_for(0); }

} // namespace vmmu
