#include "engine/experiment/guest_cc.h"

#include "engine/core/boot.h"
#include "engine/core/elf_image.h"
#include "engine/experiment/paths.h"
#include "engine/experiment/process_pool.h"
#include "vmmu/abi.h"

#include <elf.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <unistd.h>

namespace vmmu {
namespace fs = std::filesystem;

namespace {

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() &&
           s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Flags that would build something the guest cannot load or run, with the reason.
std::string refused_flag(const std::string& f) {
    if (f == "-shared" || f == "-pie" || f == "-rdynamic" || f == "-dynamic" || f == "-fpic" ||
        f == "-fPIC" || f == "-fpie" || f == "-fPIE")
        return "the guest has no dynamic loader: programs are static, linked at fixed addresses "
               "(drop the flag)";
    if (f == "-pthread")
        return "the guest libc has no POSIX threads (docs/PROGRAMS.md): drop the flag; use "
               "thread_create and thread_join from <libc.h>, or fork";
    if (starts_with(f, "-fsanitize") || starts_with(f, "-fstack-protector") || f == "-pg" ||
        starts_with(f, "-fprofile") || f == "--coverage")
        return "it needs a run-time library the guest does not have (drop the flag)";
    if (f == "-m32" || f == "-mx32" || f == "-m16" || starts_with(f, "-mcmodel") ||
        f == "-mred-zone")
        return "the guest's code model is fixed: text below 32 MiB, data far above it "
               "(-mcmodel=large), and no red zone, since interrupts use the program's stack";
    return "";
}

bool passes_through(const std::string& f) {
    for (const char* p : {"-O", "-g", "-D", "-U", "-I", "-W", "-std=", "-f",
                          "-mtune=", "-march=", "-mno-", "-w", "-pedantic", "-ansi", "-include"})
        if (starts_with(f, p)) return true;
    return false;
}

std::vector<std::string> read_lines(const fs::path& p) {
    std::vector<std::string> out;
    std::istringstream in(read_text(p));
    for (std::string l; std::getline(in, l);)
        if (!l.empty()) out.push_back(l);
    return out;
}

struct Tool {
    std::vector<std::string> argv;
    int exit_code = 0;
    std::string output; // stdout and stderr
};

void run_tool(Tool& t, const fs::path& log, bool verbose) {
    if (verbose) fmt::print(stderr, "{}\n", fmt::join(t.argv, " "));
    ChildJob job;
    job.argv = t.argv;
    job.output = log.string();
    job.null_stdin = true;
    PoolResult r = run_pool({job}, PoolOptions{});
    const ChildStatus& s = r.children.at(0);
    if (!s.start_error.empty())
        throw CcError(fmt::format("{}; install a C compiler (Debian: gcc) or set VMMU_CC to one",
                                  s.start_error));
    t.exit_code = s.stopped || !s.started ? 130 : s.exit_code;
    t.output = read_text(log);
}

// The host compiler: VMMU_CC, else the one the guest was built with, else cc on PATH.
std::string compiler(const fs::path& sdk) {
    if (const char* env = std::getenv("VMMU_CC"); env && *env) return env;
    auto lines = read_lines(sdk / "compiler");
    if (!lines.empty() && !find_program(lines[0]).empty()) return lines[0];
    for (const char* c : {"cc", "gcc"})
        if (!find_program(c).empty()) return c;
    throw CcError("vmmu cc needs a host C compiler and found none (no cc or gcc on PATH): "
                  "install one (Debian: apt-get install gcc) or set VMMU_CC");
}

// Thread-local storage and constructors in one object file: what the guest's crt0 and loader
// do not set up.
std::vector<std::string> object_problems(const fs::path& obj, const std::string& shown) {
    std::vector<std::string> problems;
    std::string bytes = read_text(obj);
    Elf64_Ehdr eh;
    if (bytes.size() < sizeof eh) return {fmt::format("{}: not an ELF object", shown)};
    std::memcpy(&eh, bytes.data(), sizeof eh);
    if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
        eh.e_machine != EM_X86_64)
        return {fmt::format("{}: not an x86-64 ELF object", shown)};
    auto shdr = [&](unsigned i) {
        Elf64_Shdr s{};
        uint64_t at = eh.e_shoff + uint64_t{i} * sizeof s;
        if (at + sizeof s <= bytes.size()) std::memcpy(&s, bytes.data() + at, sizeof s);
        return s;
    };
    if (eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shstrndx >= eh.e_shnum) return problems;
    Elf64_Shdr names = shdr(eh.e_shstrndx);
    auto name_of = [&](const Elf64_Shdr& s) -> std::string {
        uint64_t at = names.sh_offset + s.sh_name;
        if (at >= bytes.size()) return "";
        return std::string(bytes.c_str() + at, strnlen(bytes.c_str() + at, bytes.size() - at));
    };
    std::set<unsigned> tls_sections;
    for (unsigned i = 0; i < eh.e_shnum; ++i) {
        Elf64_Shdr s = shdr(i);
        std::string n = name_of(s);
        if (s.sh_flags & SHF_TLS) tls_sections.insert(i);
        if (starts_with(n, ".init_array") || starts_with(n, ".ctors") ||
            starts_with(n, ".fini_array") || starts_with(n, ".dtors") ||
            starts_with(n, ".preinit_array"))
            problems.push_back(fmt::format(
                "{}: constructor or destructor functions ({}): the guest's crt0 calls main "
                "directly and runs none; call the function from main instead",
                shown, n));
    }
    if (tls_sections.empty()) return problems;
    std::vector<std::string> vars;
    for (unsigned i = 0; i < eh.e_shnum; ++i) {
        Elf64_Shdr s = shdr(i);
        if (s.sh_type != SHT_SYMTAB || s.sh_link >= eh.e_shnum) continue;
        Elf64_Shdr str = shdr(s.sh_link);
        for (uint64_t off = 0; off + sizeof(Elf64_Sym) <= s.sh_size; off += sizeof(Elf64_Sym)) {
            Elf64_Sym sym;
            if (s.sh_offset + off + sizeof sym > bytes.size()) break;
            std::memcpy(&sym, bytes.data() + s.sh_offset + off, sizeof sym);
            if (ELF64_ST_TYPE(sym.st_info) != STT_TLS || sym.st_name == 0) continue;
            uint64_t at = str.sh_offset + sym.st_name;
            if (at < bytes.size()) vars.emplace_back(bytes.c_str() + at);
        }
    }
    problems.push_back(fmt::format(
        "{}: thread-local storage ({}): the guest kernel sets up no TLS; drop _Thread_local / "
        "__thread (a plain global is per process, shared by its threads)",
        shown, vars.empty() ? "a .tdata/.tbss section" : fmt::format("{}", fmt::join(vars, ", "))));
    return problems;
}

// What the compiler said, with a hint for what the guest lacks.
std::string compile_hint(const std::string& out) {
    std::smatch m;
    static const std::regex missing_header(R"(fatal error: ([^:]+): No such file)");
    if (std::regex_search(out, m, missing_header))
        return fmt::format("hint: the guest SDK has no <{}>; docs/PROGRAMS.md (\"The C library\") "
                           "lists the headers and functions the guest libc provides",
                           m[1].str());
    return "";
}

struct Undefined {
    std::string where; // the first "file:line" that uses it
    size_t uses = 0;
};

std::map<std::string, Undefined> undefined_symbols(const std::string& out) {
    std::map<std::string, Undefined> found;
    static const std::regex undef(R"(^(.*?):?\s*undefined reference to [`'](.+)'\s*$)");
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);) {
        std::smatch m;
        if (!std::regex_match(line, m, undef)) continue;
        std::string where = m[1].str();
        if (auto p = where.find(":("); p != std::string::npos) where = where.substr(0, p);
        // The linker names sources by absolute path: shown relative to where vmmu cc runs.
        std::error_code ec;
        std::string cwd = fs::current_path(ec).string() + "/";
        if (!ec && where.rfind(cwd, 0) == 0) where = where.substr(cwd.size());
        Undefined& u = found[m[2].str()];
        if (u.uses++ == 0) u.where = where;
    }
    return found;
}

} // namespace

std::string missing_symbol_hint(const std::string& n) {
    auto any = [&n](std::initializer_list<const char*> names) {
        for (const char* x : names)
            if (n == x) return true;
        return false;
    };
    if (starts_with(n, "pthread_") || starts_with(n, "thrd_") || starts_with(n, "mtx_") ||
        starts_with(n, "cnd_"))
        return "threads: the guest libc has no POSIX threads; use thread_create, thread_join and "
               "user_lock from <libc.h>";
    if (starts_with(n, "f") &&
        any({"fopen", "fclose", "fread", "fwrite", "fgets", "fputs", "fprintf", "fscanf", "fseek",
             "ftell", "fflush", "fgetc", "fputc", "fileno", "fdopen"}))
        return "files: the guest has no file system; print results with printf, take inputs as "
               "key=value arguments";
    if (any({"open", "close", "read", "lseek", "stat", "fstat", "unlink", "mkdir", "opendir",
             "readdir", "closedir", "access", "remove", "rename"}))
        return "files: the guest has no file system";
    if (any({"signal", "sigaction", "raise", "kill", "alarm", "setjmp", "longjmp"}))
        return "signals and non-local jumps: not in the guest";
    if (any({"gettimeofday", "nanosleep", "usleep", "localtime", "gmtime", "strftime"}))
        return "time of day: the guest has no wall clock; clock() counts guest instructions, and "
               "regions of interest (roi_begin/roi_end) measure a phase";
    if (any({"dlopen", "dlsym", "dlclose"})) return "dynamic loading: programs are static";
    if (any({"scanf", "sscanf", "fscanf", "getchar", "getc", "gets", "getline"}))
        return "input: the guest has no standard input; take inputs as key=value arguments and "
               "parse them with strtol/strtod";
    if (any({"sin", "cos", "tan", "asin", "acos", "atan", "atan2", "sinh", "cosh", "tanh"}))
        return "trigonometric functions: not in the guest libc's math.h (docs/PROGRAMS.md)";
    if (starts_with(n, "__stack_chk") || starts_with(n, "__asan") || starts_with(n, "__ubsan") ||
        starts_with(n, "__gcov") || starts_with(n, "mcount"))
        return "a run-time library of a compiler option: drop -fstack-protector / -fsanitize / "
               "-pg / --coverage";
    if (starts_with(n, "__tls_get_addr") || starts_with(n, "__emutls"))
        return "thread-local storage: drop _Thread_local / __thread";
    return "";
}

CcOptions parse_cc_args(const std::vector<std::string>& args) {
    CcOptions o;
    std::vector<std::string> problems;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        auto value = [&](const char* flag) -> std::string {
            if (i + 1 >= args.size()) throw CcError(fmt::format("vmmu cc: {} needs a value", flag));
            return args[++i];
        };
        if (a == "-o") {
            o.output = value("-o");
        } else if (starts_with(a, "-o") && a.size() > 2) {
            o.output = a.substr(2);
        } else if (a == "-c") {
            o.compile_only = true;
        } else if (a == "-v" || a == "--verbose") {
            o.verbose = true;
        } else if (a == "-I" || a == "-D" || a == "-U" || a == "-include") {
            o.flags.push_back(a);
            o.flags.push_back(value(a.c_str()));
        } else if (a == "-lm" || a == "-lc" || a == "-lgcc" || a == "-static" || a == "-no-pie" ||
                   a == "-fno-pie" || a == "-fno-pic" || a == "-fno-PIE" || a == "-fno-PIC") {
            // Already so: libm's functions are in the guest libc, the link is static.
        } else if (starts_with(a, "-l")) {
            problems.push_back(
                fmt::format("{}: the guest has no library lib{}; add its C sources to the command",
                            a, a.substr(2)));
        } else if (!a.empty() && a[0] == '-') {
            if (std::string why = refused_flag(a); !why.empty())
                problems.push_back(fmt::format("{}: {}", a, why));
            else if (passes_through(a))
                o.flags.push_back(a);
            else
                problems.push_back(fmt::format(
                    "{}: not a flag vmmu cc passes on (it takes -o -c -v -O* -g* -D -U -I "
                    "-include -std= -W* -f* -march= -mtune= -mno-* -lm)",
                    a));
        } else if (ends_with(a, ".c") || ends_with(a, ".S") || ends_with(a, ".s") ||
                   ends_with(a, ".o")) {
            o.inputs.push_back(a);
        } else if (ends_with(a, ".cc") || ends_with(a, ".cpp") || ends_with(a, ".cxx") ||
                   ends_with(a, ".C")) {
            problems.push_back(fmt::format("{}: C++ is not supported: the guest has no C++ "
                                           "run time (exceptions, new, static constructors)",
                                           a));
        } else {
            problems.push_back(fmt::format(
                "{}: not a C source (.c), assembly (.S, .s) or object from vmmu cc -c (.o)", a));
        }
    }
    if (o.inputs.empty()) problems.push_back("no input files: give the program's .c sources");
    if (o.output.empty() && !o.compile_only)
        problems.push_back("no output: give -o prog.elf (vmmu run --program prog.elf runs it)");
    if (o.compile_only && !o.output.empty() && o.inputs.size() > 1)
        problems.push_back("-c with -o takes one source; without -o each source gets its .o");
    if (!problems.empty())
        throw CcError(fmt::format("vmmu cc: bad command line:\n  {}", fmt::join(problems, "\n  ")));
    return o;
}

fs::path sdk_dir() {
    fs::path sdk = guest_dir() / "sdk";
    for (const char* f : {"lib/libvmmu.a", "include/libc.h", "program.ld", "cflags", "ldflags"})
        if (!fs::is_regular_file(sdk / f))
            throw std::invalid_argument(fmt::format(
                "vmmu cc: the guest SDK is incomplete: {} is missing; rebuild vmmu (the "
                "vmmu_guest_all target builds it) or reinstall it with 'cmake --install BUILD "
                "--prefix P'",
                (sdk / f).string()));
    return sdk;
}

void guest_cc(const CcOptions& o) {
    fs::path sdk = sdk_dir();
    for (auto& in : o.inputs)
        if (!fs::is_regular_file(in)) throw CcError(fmt::format("vmmu cc: {}: no such file", in));
    if (!o.output.empty()) check_output_file(o.output, "-o");
    std::string cc = compiler(sdk);

    const char* tmpdir = std::getenv("TMPDIR");
    std::string tdir = (fs::path(tmpdir && *tmpdir ? tmpdir : "/tmp") / "vmmu-cc.XXXXXX").string();
    std::vector<char> tbuf(tdir.begin(), tdir.end());
    tbuf.push_back(0);
    if (!mkdtemp(tbuf.data()))
        throw std::runtime_error(
            fmt::format("vmmu cc: cannot create {}: {}", tdir, std::strerror(errno)));
    fs::path tmp(tbuf.data());
    struct Cleanup {
        fs::path dir;
        ~Cleanup() {
            std::error_code ec;
            fs::remove_all(dir, ec);
        }
    } cleanup{tmp};
    fs::path log = tmp / "log";

    // The compiler's own headers (stddef.h, stdint.h, stdarg.h, ...) but not the host libc's.
    Tool probe{{cc, "-print-file-name=include"}, 0, ""};
    run_tool(probe, log, false);
    std::string cc_include = probe.output.substr(0, probe.output.find('\n'));

    std::vector<std::string> cflags = read_lines(sdk / "cflags");
    std::vector<std::string> objects;
    std::vector<std::string> problems;
    for (size_t i = 0; i < o.inputs.size(); ++i) {
        const std::string& src = o.inputs[i];
        if (ends_with(src, ".o")) {
            for (auto& p : object_problems(src, src)) problems.push_back(p);
            objects.push_back(src);
            continue;
        }
        fs::path obj;
        if (o.compile_only)
            obj = !o.output.empty() ? fs::path(o.output)
                                    : fs::path(fs::path(src).stem().string() + ".o");
        else
            obj = tmp / fmt::format("{}-{}.o", i, fs::path(src).stem().string());
        Tool t;
        t.argv.push_back(cc);
        t.argv.insert(t.argv.end(), cflags.begin(), cflags.end());
        t.argv.push_back("-D__vmmu__=1");
        t.argv.insert(t.argv.end(), o.flags.begin(), o.flags.end());
        t.argv.insert(t.argv.end(), {"-nostdinc", "-isystem", (sdk / "include").string()});
        if (!cc_include.empty() && fs::is_directory(cc_include))
            t.argv.insert(t.argv.end(), {"-isystem", cc_include});
        t.argv.insert(t.argv.end(), {"-c", src, "-o", obj.string()});
        run_tool(t, log, o.verbose);
        if (!t.output.empty()) fmt::print(stderr, "{}", t.output);
        if (t.exit_code != 0) {
            std::string hint = compile_hint(t.output);
            throw CcError(fmt::format("vmmu cc: compiling {} failed (the compiler's messages are "
                                      "above){}",
                                      src, hint.empty() ? "" : "\n" + hint));
        }
        for (auto& p : object_problems(obj, src)) problems.push_back(p);
        objects.push_back(obj.string());
    }
    if (!problems.empty())
        throw CcError(fmt::format("vmmu cc: the program uses what the guest cannot provide:\n  {}",
                                  fmt::join(problems, "\n  ")));
    if (o.compile_only) return;

    // Linked for slot 0 with its relocations kept: the loader moves it to a free slot
    // (engine/core/boot.h, place_programs).
    fs::path linked = tmp / "prog.elf";
    Tool ld;
    ld.argv.push_back(cc);
    auto ldflags = read_lines(sdk / "ldflags");
    ld.argv.insert(ld.argv.end(), ldflags.begin(), ldflags.end());
    ld.argv.push_back("-T");
    ld.argv.push_back((sdk / "program.ld").string());
    ld.argv.push_back(fmt::format("-Wl,--defsym=TEXT_BASE={:#x}", VMMU_PROG_TEXT_BASE));
    ld.argv.push_back("-Wl,--emit-relocs");
    ld.argv.push_back("-o");
    ld.argv.push_back(linked.string());
    ld.argv.insert(ld.argv.end(), objects.begin(), objects.end());
    ld.argv.push_back((sdk / "lib" / "libvmmu.a").string());
    ld.argv.push_back("-lgcc");
    run_tool(ld, log, o.verbose);
    if (ld.exit_code != 0) {
        auto undefined = undefined_symbols(ld.output);
        if (undefined.empty()) {
            fmt::print(stderr, "{}", ld.output);
            std::string hint;
            if (ld.output.find("relocation truncated") != std::string::npos)
                hint = "\nhint: guest code and data lie far apart (text below 32 MiB, data from "
                       "0x8000000000): compile every file with vmmu cc (-mcmodel=large), not "
                       "with the host's compiler alone";
            throw CcError(fmt::format(
                "vmmu cc: linking {} failed (the linker's messages are above){}", o.output, hint));
        }
        std::vector<std::string> lines;
        size_t width = 0;
        for (auto& [name, u] : undefined) width = std::max(width, name.size());
        for (auto& [name, u] : undefined) {
            std::string hint = missing_symbol_hint(name);
            lines.push_back(fmt::format("{:<{}}  used at {}{}", name, width,
                                        u.where.empty() ? "?" : u.where,
                                        hint.empty() ? "" : "; " + hint));
        }
        throw CcError(fmt::format(
            "vmmu cc: {} function{} the program calls {} not in the guest libc:\n  {}\n"
            "fix: write {} in the program, or leave {} out; docs/PROGRAMS.md lists what the guest "
            "libc provides",
            undefined.size(), undefined.size() == 1 ? "" : "s",
            undefined.size() == 1 ? "is" : "are", fmt::join(lines, "\n  "),
            undefined.size() == 1 ? "it" : "them",
            undefined.size() == 1 ? "its use" : "their uses"));
    }
    if (!ld.output.empty()) fmt::print(stderr, "{}", ld.output);

    // The loader's own rules, now rather than at the first run.
    ElfImage img = read_elf(linked.string());
    img.path = o.output;
    try {
        check_program(img, uint64_t{64} << 30);
        if (!img.relocation_problem.empty())
            throw ImageError(fmt::format("{}: its text could not be moved to a free slot: {}",
                                         o.output, img.relocation_problem));
        if (!img.relocatable)
            throw ImageError(fmt::format("{}: the linker kept no relocations", o.output));
        uint64_t text = img.text_end() - img.text_begin();
        if (text > VMMU_PROG_MAX_SLOTS * VMMU_PROG_TEXT_SLOT)
            throw ImageError(fmt::format("{}: text of {} KiB is larger than all program slots "
                                         "together ({} KiB)",
                                         o.output, text >> 10,
                                         (VMMU_PROG_MAX_SLOTS * VMMU_PROG_TEXT_SLOT) >> 10));
    } catch (const ImageError& e) {
        // The loader's message ends with the advice to use vmmu cc: not news here.
        std::string what = e.what();
        if (auto at = what.find(": build it with `vmmu cc"); at != std::string::npos)
            what.resize(at);
        throw CcError(fmt::format("vmmu cc: the linked program breaks a rule of the guest's "
                                  "loader:\n  {}\nfix: keep code in .text and data in the data "
                                  "sections (no section attributes or linker scripts of your own)",
                                  what));
    }
    fs::path out(o.output);
    std::error_code ec;
    fs::copy_file(linked, out.string() + ".tmp", fs::copy_options::overwrite_existing, ec);
    if (!ec) fs::rename(out.string() + ".tmp", out, ec);
    if (ec)
        throw std::runtime_error(
            fmt::format("vmmu cc: cannot write {}: {}", o.output, ec.message()));
}

} // namespace vmmu
