// Reading and checking an x86-64 ELF executable (kernel or user program) before it is loaded.
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace vmmu {

// A bad guest image: the message names the file and what is wrong with it.
struct ImageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct ElfSegment {
    uint64_t vaddr = 0, paddr = 0;
    uint64_t file_offset = 0, file_size = 0, mem_size = 0;
    bool exec = false, write = false;
};

// A field in a loadable section that holds an absolute address inside the text (a function
// pointer in data, a `movabs` of a function's address): what moving the text must patch.
struct TextReference {
    uint64_t file_offset = 0;
    unsigned width = 8; // bytes: 8 (R_X86_64_64) or 4 (R_X86_64_32, R_X86_64_32S)
};

struct ElfImage {
    std::string path;
    std::vector<uint8_t> bytes; // the whole file
    uint64_t entry = 0;
    // Bytes [0, load_bytes) hold the ELF header, the program headers and every PT_LOAD
    // segment's file contents: all a loader reads. What follows (symbols, debug information
    // with the build's paths) is left out of the guest's program archive, so the guest's
    // memory layout does not depend on where or how verbosely the programs were built.
    uint64_t load_bytes = 0;
    std::vector<ElfSegment> segments;          // PT_LOAD only
    std::map<uint64_t, std::string> functions; // STT_FUNC symbols by address
    std::map<std::string, uint64_t> symbols;   // every named symbol: name -> address
    // Relocations kept in the executable (linked with --emit-relocs, as `vmmu cc` links): the
    // text can then be moved to another slot (rebase_text). `relocation_problem` says why a
    // program that kept them still cannot move ("" if it can).
    bool relocatable = false;
    // Program headers the guest has no loader for: PT_INTERP or PT_DYNAMIC (a dynamically
    // linked program), PT_TLS (thread-local storage).
    bool dynamic = false, tls = false;
    std::string relocation_problem;
    std::vector<TextReference> text_references;

    // Text range: the lowest and highest address of executable segments.
    uint64_t text_begin() const;
    uint64_t text_end() const;
    // "name+0x12" for an address inside a known function, "" otherwise.
    std::string symbolize(uint64_t addr) const;
};

// Parses and validates an ELF64 x86-64 executable: header, segment bounds, no overlaps.
ElfImage read_elf(const std::string& path);
ElfImage parse_elf(std::string path, std::vector<uint8_t> bytes);

// Moves a relocatable image's text so that it starts at `new_text_base` (a page multiple):
// patches the entry point, the text segments' addresses, every TextReference and the symbols,
// in `bytes` too, so the program archive holds the moved program. Throws ImageError if the
// image is not relocatable.
void rebase_text(ElfImage& img, uint64_t new_text_base);

} // namespace vmmu
