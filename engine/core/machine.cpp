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
      p2m_(HostPhys(config.p2m_base)), host_(config.host), impl_(std::make_unique<Impl>()) {
    if (config.guest_bytes < (uint64_t{64} << 20) || config.guest_bytes > (uint64_t{64} << 30))
        throw std::invalid_argument(fmt::format(
            "guest memory of {} MiB is out of range: use 64 MiB to 64 GiB", config.guest_bytes >> 20));
    if (!host_) {
        constexpr uint64_t kGiB = uint64_t{1} << 30;
        uint64_t end = config.p2m_base + (config.guest_bytes + kGiB - 1) / kGiB * kGiB + 2 * kGiB;
        host_ = std::make_shared<HostFrames>(std::vector<HostRange>{
            {config.p2m_base, config.p2m_base + config.guest_bytes, end}});
        config_.vm_index = 0;
    } else if (host_->range(static_cast<size_t>(config.vm_index)).base != config.p2m_base) {
        throw std::invalid_argument(fmt::format("VM {}: p2m base {:#x} is not its host range",
                                                config.vm_index, config.p2m_base));
    }
    impl_->kernel = read_elf(config.kernel_path);
    std::vector<std::string> names;
    for (auto& p : config.program_paths) {
        impl_->programs.push_back(read_elf(p));
        names.push_back(std::filesystem::path(p).stem().string());
    }
    BootOptions opts{config.cmdline, config.timer_period, config.boot_flags};
    impl_->boot = load_guest(*memory_, impl_->kernel, impl_->programs, names, opts);
    impl_->vcpu = std::make_unique<Vcpu>(*memory_, p2m_, impl_->boot, impl_->kernel, config_,
                                         backends_);
}

Machine::~Machine() = default;

RunResult Machine::run_for(uint64_t instructions) {
    auto start = std::chrono::steady_clock::now();
    RunResult r = impl_->vcpu->run(instructions);
    r.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return r;
}

bool Machine::finished() const { return impl_->vcpu->finished(); }

uint64_t Machine::current_rip() const { return impl_->vcpu->current_rip(); }

BackendEnv Machine::backend_env() const {
    BackendEnv env;
    env.memory = memory_.get();
    env.p2m = &p2m_;
    env.host = host_.get();
    env.vm = config_.vm_index;
    env.initial_cr3 = impl_->boot.cr3;
    env.initial_cr4 = x86::kCr4Pae | x86::kCr4Pge;
    return env;
}

void Machine::attach(std::unique_ptr<Backend> backend) { backends_.push_back(std::move(backend)); }

RunResult Machine::run() {
    auto start = std::chrono::steady_clock::now();
    RunResult r = impl_->vcpu->run();
    r.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return r;
}

} // namespace vmmu
