#include "engine/core/elf_image.h"

#include <elf.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>

namespace vmmu {
namespace {

template <class T>
T read_struct(const std::vector<uint8_t>& b, uint64_t off, const std::string& path,
              const char* what) {
    if (off > b.size() || sizeof(T) > b.size() - off)
        throw ImageError(fmt::format("{}: truncated ELF: {} at offset {:#x} runs past the end "
                                     "of the file ({} bytes)",
                                     path, what, off, b.size()));
    T t;
    std::memcpy(&t, b.data() + off, sizeof t);
    return t;
}

void read_symbols(ElfImage& img, const Elf64_Ehdr& eh) {
    if (eh.e_shoff == 0 || eh.e_shnum == 0) return;
    for (unsigned i = 0; i < eh.e_shnum; ++i) {
        auto sh = read_struct<Elf64_Shdr>(img.bytes, eh.e_shoff + uint64_t{i} * eh.e_shentsize,
                                          img.path, "section header");
        if (sh.sh_type != SHT_SYMTAB || sh.sh_entsize != sizeof(Elf64_Sym)) continue;
        if (sh.sh_link >= eh.e_shnum) continue;
        auto strsh = read_struct<Elf64_Shdr>(
            img.bytes, eh.e_shoff + uint64_t{sh.sh_link} * eh.e_shentsize, img.path, "strtab");
        for (uint64_t off = 0; off + sizeof(Elf64_Sym) <= sh.sh_size; off += sizeof(Elf64_Sym)) {
            auto sym = read_struct<Elf64_Sym>(img.bytes, sh.sh_offset + off, img.path, "symbol");
            if (sym.st_name == 0 || sym.st_name >= strsh.sh_size) continue;
            uint64_t name_off = strsh.sh_offset + sym.st_name;
            if (name_off >= img.bytes.size()) continue;
            const char* s = reinterpret_cast<const char*>(img.bytes.data() + name_off);
            std::string name(s, strnlen(s, img.bytes.size() - name_off));
            img.symbols[name] = sym.st_value;
            if (ELF64_ST_TYPE(sym.st_info) == STT_FUNC) img.functions[sym.st_value] = name;
        }
    }
}

} // namespace

uint64_t ElfImage::text_begin() const {
    uint64_t lo = UINT64_MAX;
    for (auto& s : segments)
        if (s.exec) lo = std::min(lo, s.vaddr);
    return lo == UINT64_MAX ? 0 : lo;
}

uint64_t ElfImage::text_end() const {
    uint64_t hi = 0;
    for (auto& s : segments)
        if (s.exec) hi = std::max(hi, s.vaddr + s.mem_size);
    return hi;
}

std::string ElfImage::symbolize(uint64_t addr) const {
    auto it = functions.upper_bound(addr);
    if (it == functions.begin()) return "";
    --it;
    if (addr - it->first > 0x100000) return "";
    return addr == it->first ? it->second : fmt::format("{}+{:#x}", it->second, addr - it->first);
}

ElfImage read_elf(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw ImageError(fmt::format("{}: cannot open guest image", path));
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                               std::istreambuf_iterator<char>());
    return parse_elf(path, std::move(bytes));
}

ElfImage parse_elf(std::string path, std::vector<uint8_t> bytes) {
    ElfImage img;
    img.path = std::move(path);
    img.bytes = std::move(bytes);
    auto eh = read_struct<Elf64_Ehdr>(img.bytes, 0, img.path, "ELF header");
    if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0)
        throw ImageError(fmt::format("{}: not an ELF file (bad magic)", img.path));
    if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB)
        throw ImageError(fmt::format("{}: not a 64-bit little-endian ELF", img.path));
    if (eh.e_machine != EM_X86_64)
        throw ImageError(fmt::format("{}: wrong machine {} (need x86-64, EM_X86_64 = {})", img.path,
                                     eh.e_machine, EM_X86_64));
    if (eh.e_type != ET_EXEC)
        throw ImageError(fmt::format("{}: not a static executable (ET_EXEC); link with -static "
                                     "-no-pie",
                                     img.path));
    if (eh.e_phentsize != sizeof(Elf64_Phdr))
        throw ImageError(
            fmt::format("{}: unexpected program header size {}", img.path, eh.e_phentsize));
    img.entry = eh.e_entry;
    img.load_bytes = std::max<uint64_t>(sizeof(Elf64_Ehdr),
                                        eh.e_phoff + uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr));
    for (unsigned i = 0; i < eh.e_phnum; ++i) {
        auto ph = read_struct<Elf64_Phdr>(img.bytes, eh.e_phoff + uint64_t{i} * sizeof(Elf64_Phdr),
                                          img.path, "program header");
        if (ph.p_type != PT_LOAD || ph.p_memsz == 0) continue;
        if (ph.p_filesz > ph.p_memsz)
            throw ImageError(fmt::format("{}: segment {} has file size {:#x} > memory size {:#x}",
                                         img.path, i, ph.p_filesz, ph.p_memsz));
        if (ph.p_offset > img.bytes.size() || ph.p_filesz > img.bytes.size() - ph.p_offset)
            throw ImageError(fmt::format("{}: truncated: segment {} needs bytes [{:#x}, {:#x}) but "
                                         "the file has {:#x}",
                                         img.path, i, ph.p_offset, ph.p_offset + ph.p_filesz,
                                         img.bytes.size()));
        if (ph.p_vaddr + ph.p_memsz < ph.p_vaddr || ph.p_paddr + ph.p_memsz < ph.p_paddr)
            throw ImageError(
                fmt::format("{}: segment {} wraps around the address space", img.path, i));
        img.load_bytes = std::max(img.load_bytes, ph.p_offset + ph.p_filesz);
        img.segments.push_back({ph.p_vaddr, ph.p_paddr, ph.p_offset, ph.p_filesz, ph.p_memsz,
                                (ph.p_flags & PF_X) != 0, (ph.p_flags & PF_W) != 0});
    }
    if (img.segments.empty()) throw ImageError(fmt::format("{}: no loadable segment", img.path));
    auto segs = img.segments;
    std::sort(segs.begin(), segs.end(), [](auto& a, auto& b) { return a.vaddr < b.vaddr; });
    for (size_t i = 1; i < segs.size(); ++i)
        if (segs[i].vaddr < segs[i - 1].vaddr + segs[i - 1].mem_size)
            throw ImageError(fmt::format("{}: segments at {:#x} and {:#x} overlap", img.path,
                                         segs[i - 1].vaddr, segs[i].vaddr));
    bool entry_in_text = false;
    for (auto& s : img.segments)
        if (s.exec && img.entry >= s.vaddr && img.entry < s.vaddr + s.mem_size)
            entry_in_text = true;
    if (!entry_in_text)
        throw ImageError(fmt::format("{}: entry point {:#x} is not in an executable segment",
                                     img.path, img.entry));
    read_symbols(img, eh);
    return img;
}

} // namespace vmmu
