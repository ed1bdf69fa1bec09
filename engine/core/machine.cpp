#include "engine/core/machine.h"

#include "engine/core/boot.h"
#include "engine/core/elf_image.h"
#include "engine/core/paging.h"
#include "engine/core/vcpu.h"
#include "vmmu/abi.h"

#include <fmt/format.h>

#include <chrono>
#include <filesystem>

namespace vmmu {

struct Machine::Impl {
    ElfImage kernel;
    std::vector<ElfImage> programs;
    BootState boot;
    std::unique_ptr<Vcpu> vcpu;
};

Machine::Machine(const MachineConfig& config)
    : config_(config), memory_(std::make_unique<GuestMemory>(config.guest_bytes)),
      impl_(std::make_unique<Impl>()) {
    if (config.guest_bytes < (uint64_t{64} << 20) || config.guest_bytes > (uint64_t{64} << 30))
        throw std::invalid_argument(
            fmt::format("guest memory of {} MiB is out of range: use 64 MiB to 64 GiB",
                        config.guest_bytes >> 20));
    impl_->kernel = read_elf(config.kernel_path);
    std::vector<std::string> names;
    for (auto& p : config.program_paths) {
        impl_->programs.push_back(read_elf(p));
        names.push_back(std::filesystem::path(p).stem().string());
    }
    BootOptions opts{config.cmdline, config.timer_period, config.boot_flags, config.vcpus};
    impl_->boot = load_guest(*memory_, impl_->kernel, impl_->programs, names, opts);
    impl_->vcpu = std::make_unique<Vcpu>(*memory_, impl_->boot, impl_->kernel, config_, observers_);
}

Machine::~Machine() = default;

RunResult Machine::run_for(uint64_t instructions) {
    auto start = std::chrono::steady_clock::now();
    RunResult r = impl_->vcpu->run(instructions);
    r.wall_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return r;
}

bool Machine::finished() const { return impl_->vcpu->finished(); }

uint64_t Machine::current_rip() const { return impl_->vcpu->current_rip(); }

uint64_t Machine::initial_cr3() const { return impl_->boot.cr3; }

uint64_t Machine::initial_cr4() const { return x86::kCr4Pae | x86::kCr4Pge; }

void Machine::attach(GuestObserver& observer) { observers_.push_back(&observer); }

void Machine::on_boundary(std::function<void(const Boundary&)> listener) {
    impl_->vcpu->on_boundary(std::move(listener));
}

RunResult Machine::run() {
    auto start = std::chrono::steady_clock::now();
    RunResult r = impl_->vcpu->run();
    r.wall_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return r;
}

} // namespace vmmu
