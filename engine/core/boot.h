// Placing a guest in memory: kernel image, program texts at their slots, the program archive,
// boot page tables, GDT and boot-info block (layout: workloads/include/vmmu/abi.h).
#pragma once

#include "engine/core/elf_image.h"
#include "engine/core/guest_memory.h"

#include <string>
#include <vector>

namespace vmmu {

struct BootOptions {
    std::string cmdline;
    uint64_t timer_period = 0;
    uint64_t flags = 0;
    int levels = 4; // paging levels: 5 boots with CR4.LA57 and a PML5 root (VMMU_BOOT_FLAG_LA57)
    uint64_t ncpus = 1; // boot info's ncpus: the VM's vCPUs
};

struct BootState {
    uint64_t entry = 0;
    uint64_t rdi = 0; // direct-map VA of the boot info
    uint64_t rsp = 0; // boot stack (direct map)
    uint64_t cr3 = 0;
    uint64_t gdt_base = 0; // VA
    uint16_t gdt_limit = 0;
    uint64_t kernel_text_begin = 0, kernel_text_end = 0;
    uint64_t free_start = 0;
    // Executable frames (kernel and program text), as [begin, end) gPA ranges.
    std::vector<std::pair<uint64_t, uint64_t>> code_ranges;
};

// Checks every image against the address map and loads it; throws ImageError naming the file
// and the rule it breaks. Programs are placed first (place_programs), so a moved program's
// image is the one the archive holds.
BootState load_guest(GuestMemory& mem, const ElfImage& kernel, std::vector<ElfImage>& programs,
                     const std::vector<std::string>& program_names, const BootOptions& options);

// The rules a user program must follow to be loaded (text in the program slots, identity-mapped
// and read-only; data in user memory; static; no thread-local storage). Throws ImageError naming
// the file, the rule and how to build a program that follows it (`vmmu cc`).
void check_program(const ElfImage& program, uint64_t mem_bytes);

// Text slots: each program keeps the text address it was linked at unless that overlaps a
// program placed before it; then, if it kept its relocations (`vmmu cc` links with
// --emit-relocs), it moves to the lowest free slots (rebase_text). Programs that cannot move
// are placed first. Throws ImageError on an overlap that cannot be resolved or when no slot is
// free.
void place_programs(std::vector<ElfImage>& programs);

} // namespace vmmu
