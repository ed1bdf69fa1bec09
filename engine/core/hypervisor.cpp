#include "engine/core/hypervisor.h"

#include "vmmu/abi.h"

namespace vmmu {
namespace {

// Twelve signature bytes as EBX, ECX, EDX (little-endian, as CPUID returns a vendor string).
CpuidRegs signature(uint32_t max_leaf, const char (&s)[13]) {
    auto word = [&](int i) {
        return static_cast<uint32_t>(static_cast<uint8_t>(s[i])) |
               static_cast<uint32_t>(static_cast<uint8_t>(s[i + 1])) << 8 |
               static_cast<uint32_t>(static_cast<uint8_t>(s[i + 2])) << 16 |
               static_cast<uint32_t>(static_cast<uint8_t>(s[i + 3])) << 24;
    };
    return {max_leaf, word(0), word(4), word(8)};
}

// Hyper-V as Windows Server 2008 saw it on hardware without SLAT (TLFS, "Feature discovery").
CpuidRegs hyperv_leaf(uint32_t leaf) {
    switch (leaf) {
    case VMMU_CPUID_HV_VENDOR:
        // Leaves up to 0x40000005 (implementation limits) exist in every TLFS version.
        return signature(0x40000005u, "Microsoft Hv");
    case VMMU_CPUID_HV_INTERFACE:
        return {VMMU_HV_INTERFACE_HV1, 0, 0, 0};
    case 0x40000002u:
        // Hypervisor version: build 6001 (Windows Server 2008 RTM), version 6.0 (TLFS layout:
        // EAX build number, EBX major.minor in 31:16 and 15:0).
        return {6001, (6u << 16) | 0u, 0, 0};
    case 0x40000003u:
        // Partition privileges: none that vmmu models (no synthetic MSRs); the hypercalls below
        // need no privilege bit in the TLFS versions of 2008.
        return {};
    case VMMU_CPUID_HV_RECOMMEND:
        // The shadow-paging hypervisor recommends both local enlightenments and remote flushes
        // by hypercall instead of IPIs; EBX = 0xffffffff: never notify long spin waits (TLFS,
        // "Implementation Recommendations").
        return {VMMU_HV_REC_SWITCH_AS | VMMU_HV_REC_LOCAL_FLUSH | VMMU_HV_REC_REMOTE_FLUSH,
                0xffffffffu, 0, 0};
    case 0x40000005u:
        // Implementation limits: virtual processors per partition (Hyper-V 2008: 4, per
        // Microsoft's Hyper-V 2008 documentation), logical processors (estimate: one socket).
        return {4, 8, 0, 0};
    default:
        return {};
    }
}

CpuidRegs kvm_leaf(uint32_t leaf) {
    // KVM: signature "KVMKVMKVM\0\0\0", EAX the highest leaf (Documentation/virt/kvm/x86/
    // cpuid.rst); KVM_CPUID_FEATURES = 0: vmmu models none of KVM's paravirtual features.
    if (leaf == VMMU_CPUID_HV_VENDOR) return signature(0x40000001u, "KVMKVMKVM\0\0\0");
    return {};
}

} // namespace

std::string_view hypervisor_name(Hypervisor h) {
    switch (h) {
    case Hypervisor::None:
        return "none";
    case Hypervisor::Kvm:
        return "kvm";
    case Hypervisor::HyperV:
        return "hyperv";
    }
    return "none";
}

std::optional<Hypervisor> parse_hypervisor(std::string_view name) {
    for (Hypervisor h : {Hypervisor::None, Hypervisor::Kvm, Hypervisor::HyperV})
        if (hypervisor_name(h) == name) return h;
    return std::nullopt;
}

bool personality_leaf(uint32_t leaf) { return leaf == 1 || (leaf >> 28) == 0x4; }

CpuidRegs answer_cpuid(Hypervisor h, uint32_t leaf, const CpuidRegs& native) {
    if (leaf == 1) {
        CpuidRegs r = native;
        if (h == Hypervisor::None)
            r.ecx &= ~VMMU_CPUID1_ECX_HYPERVISOR;
        else
            r.ecx |= VMMU_CPUID1_ECX_HYPERVISOR;
        return r;
    }
    // Bare metal (none): zeros, as AMD returns for an unsupported leaf; a guest reads the range
    // only after leaf 1 said a hypervisor is present.
    switch (h) {
    case Hypervisor::Kvm:
        return kvm_leaf(leaf);
    case Hypervisor::HyperV:
        return hyperv_leaf(leaf);
    default:
        return {};
    }
}

} // namespace vmmu
