// libFuzzer: any bytes as a guest ELF, read by parse_elf and, if accepted, placed in guest memory
// by load_guest. The first byte picks the role: odd, the kernel; even, a user program next to a
// minimal valid kernel. Only ImageError may come out.
#include "engine/core/boot.h"
#include "engine/core/elf_image.h"
#include "vmmu/abi.h"

#include <cstddef>
#include <cstdint>
#include <memory>

namespace {

// One 4 KiB text page at the kernel text base: enough for load_guest to accept it.
vmmu::ElfImage minimal_kernel() {
    vmmu::ElfImage k;
    k.path = "kernel";
    k.bytes.assign(0x1000, 0x90);
    k.entry = VMMU_KERNEL_TEXT_BASE;
    k.segments.push_back(
        {VMMU_KERNEL_TEXT_BASE, VMMU_KERNEL_TEXT_BASE, 0, 0x1000, 0x1000, true, false});
    return k;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    // Lazily committed by the host, so 64 MiB costs only the pages written.
    static auto mem = std::make_unique<vmmu::GuestMemory>(uint64_t{64} << 20);
    static const vmmu::ElfImage kernel = minimal_kernel();
    bool as_kernel = data[0] & 1;
    try {
        vmmu::ElfImage img =
            vmmu::parse_elf("fuzz.elf", std::vector<uint8_t>(data + 1, data + size));
        vmmu::BootOptions opts{"fuzz", 1000, 0};
        std::vector<vmmu::ElfImage> none, programs{img};
        if (as_kernel)
            vmmu::load_guest(*mem, img, none, {}, opts);
        else
            vmmu::load_guest(*mem, kernel, programs, {"fuzz"}, opts);
    } catch (const vmmu::ImageError&) {
    }
    return 0;
}
