#include "engine/core/elf_image.h"

#include <elf.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstddef>
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

Elf64_Shdr section_header(const ElfImage& img, const Elf64_Ehdr& eh, unsigned i) {
    return read_struct<Elf64_Shdr>(img.bytes, eh.e_shoff + uint64_t{i} * eh.e_shentsize, img.path,
                                   "section header");
}

// The relocations an executable linked with --emit-relocs kept for its loadable sections: which
// fields hold absolute text addresses, and whether anything ties the text to where it is in a
// way a move could not fix. Relocations of debug sections are not the guest's concern.
void read_relocations(ElfImage& img, const Elf64_Ehdr& eh) {
    if (eh.e_shoff == 0 || eh.e_shnum == 0) return;
    uint64_t lo = img.text_begin(), hi = img.text_end();
    auto problem = [&img](std::string what) {
        if (img.relocation_problem.empty()) img.relocation_problem = std::move(what);
    };
    for (unsigned i = 0; i < eh.e_shnum; ++i) {
        auto rs = section_header(img, eh, i);
        if (rs.sh_type != SHT_RELA || rs.sh_entsize != sizeof(Elf64_Rela)) continue;
        if (rs.sh_info >= eh.e_shnum || rs.sh_link >= eh.e_shnum) continue;
        auto target = section_header(img, eh, rs.sh_info);
        if (!(target.sh_flags & SHF_ALLOC)) continue;
        img.relocatable = true;
        auto symtab = section_header(img, eh, rs.sh_link);
        for (uint64_t off = 0; off + sizeof(Elf64_Rela) <= rs.sh_size; off += sizeof(Elf64_Rela)) {
            auto r = read_struct<Elf64_Rela>(img.bytes, rs.sh_offset + off, img.path, "relocation");
            uint32_t type = ELF64_R_TYPE(r.r_info);
            if (type == R_X86_64_NONE) continue;
            auto sym = read_struct<Elf64_Sym>(
                img.bytes, symtab.sh_offset + ELF64_R_SYM(r.r_info) * sizeof(Elf64_Sym), img.path,
                "relocation symbol");
            uint64_t value = sym.st_value + static_cast<uint64_t>(r.r_addend); // S + A
            bool at_text = r.r_offset >= lo && r.r_offset < hi;
            // An address one past the text's end still belongs to it (an end symbol).
            bool to_text = sym.st_shndx != SHN_UNDEF && value >= lo && value <= hi;
            switch (type) {
            case R_X86_64_64:
            case R_X86_64_32:
            case R_X86_64_32S: {
                if (!to_text) break;
                unsigned width = type == R_X86_64_64 ? 8 : 4;
                uint64_t at = target.sh_offset + (r.r_offset - target.sh_addr);
                if (target.sh_type == SHT_NOBITS || r.r_offset < target.sh_addr ||
                    at > img.bytes.size() || width > img.bytes.size() - at) {
                    problem(fmt::format("a relocation at {:#x} lies outside its section's bytes",
                                        r.r_offset));
                    break;
                }
                uint64_t held = 0;
                std::memcpy(&held, img.bytes.data() + at, width);
                if (type == R_X86_64_32S) held = static_cast<uint64_t>(static_cast<int32_t>(held));
                if (held != value)
                    problem(fmt::format("the field at {:#x} does not hold the address its "
                                        "relocation names (the linker rewrote it)",
                                        r.r_offset));
                else
                    img.text_references.push_back({at, width});
                break;
            }
            case R_X86_64_PC32:
            case R_X86_64_PLT32:
            case R_X86_64_PC64:
                if (at_text != to_text)
                    problem(fmt::format("a PC-relative reference at {:#x} ties text to data at a "
                                        "fixed distance",
                                        r.r_offset));
                break;
            default:
                if (at_text || to_text)
                    problem(fmt::format("relocation type {} at {:#x} cannot be moved with the text",
                                        type, r.r_offset));
            }
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
        throw ImageError(fmt::format("{}: not a static executable (ET_EXEC: a position-"
                                     "independent or dynamically linked program cannot be "
                                     "loaded); build it with `vmmu cc FILES... -o prog.elf`",
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
        if (ph.p_type == PT_INTERP || ph.p_type == PT_DYNAMIC) img.dynamic = true;
        if (ph.p_type == PT_TLS) img.tls = true;
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
    read_relocations(img, eh);
    return img;
}

void rebase_text(ElfImage& img, uint64_t new_text_base) {
    if (!img.relocatable)
        throw ImageError(fmt::format("{}: the text cannot move: the program was linked without "
                                     "its relocations (build it with `vmmu cc`)",
                                     img.path));
    if (!img.relocation_problem.empty())
        throw ImageError(
            fmt::format("{}: the text cannot move: {}", img.path, img.relocation_problem));
    uint64_t lo = img.text_begin(), hi = img.text_end();
    uint64_t delta = new_text_base - lo; // modulo 2^64: a move down is a wrapped delta
    auto add = [&img, delta](uint64_t at, unsigned width) {
        uint64_t v = 0;
        std::memcpy(&v, img.bytes.data() + at, width);
        v += delta;
        std::memcpy(img.bytes.data() + at, &v, width);
    };
    for (auto& ref : img.text_references) add(ref.file_offset, ref.width);
    add(offsetof(Elf64_Ehdr, e_entry), 8);
    img.entry += delta;
    Elf64_Ehdr eh;
    std::memcpy(&eh, img.bytes.data(), sizeof eh);
    for (unsigned i = 0; i < eh.e_phnum; ++i) {
        uint64_t at = eh.e_phoff + uint64_t{i} * sizeof(Elf64_Phdr);
        Elf64_Phdr ph;
        std::memcpy(&ph, img.bytes.data() + at, sizeof ph);
        if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X)) continue;
        add(at + offsetof(Elf64_Phdr, p_vaddr), 8);
        add(at + offsetof(Elf64_Phdr, p_paddr), 8);
    }
    for (auto& s : img.segments)
        if (s.exec) {
            s.vaddr += delta;
            s.paddr += delta;
        }
    std::map<uint64_t, std::string> functions;
    for (auto& [a, name] : img.functions) functions[a >= lo && a <= hi ? a + delta : a] = name;
    img.functions = std::move(functions);
    for (auto& [name, a] : img.symbols)
        if (a >= lo && a <= hi) a += delta;
}

} // namespace vmmu
