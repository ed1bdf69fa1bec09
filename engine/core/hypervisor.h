// Hypervisor personalities: what the guest learns from CPUID about the hypervisor it runs on.
//
// `--hypervisor none|kvm|hyperv` chooses the answers to CPUID leaf 1 ECX bit 31 (a hypervisor
// is present) and to the hypervisor range 0x40000000 and up. Hyper-V's leaves follow Microsoft's
// Hypervisor Top-Level Functional Specification (TLFS, "Feature discovery"); KVM's follow the
// Linux kernel's Documentation/virt/kvm/x86/cpuid.rst. The personality decides what the guest
// is told, never what a scheme models: every attached backend observes the same guest.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace vmmu {

enum class Hypervisor : uint8_t { None, Kvm, HyperV };

// "none", "kvm", "hyperv".
std::string_view hypervisor_name(Hypervisor h);
std::optional<Hypervisor> parse_hypervisor(std::string_view name);

struct CpuidRegs {
    uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
};

// Whether the personality answers `leaf` itself (leaf 1's hypervisor bit, the 0x4000xxxx range).
bool personality_leaf(uint32_t leaf);
// The registers CPUID returns for `leaf` under `h`, given what the CPU model itself returned
// (`native`): leaf 1 keeps everything but ECX bit 31; the hypervisor range is the personality's.
CpuidRegs answer_cpuid(Hypervisor h, uint32_t leaf, const CpuidRegs& native);

} // namespace vmmu
