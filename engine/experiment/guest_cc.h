// `vmmu cc`: builds a user's C program for the guest with the host compiler, against the guest
// SDK (DATA/guest/sdk: the libc archive, its headers, program.ld and the flags the built-in
// programs are built with; workloads/sdk.cmake), and checks the result by the loader's own
// rules before anything runs. docs/PROGRAMS.md describes it for users.
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace vmmu {

// The program uses something the guest cannot provide, or the command line is wrong: the
// message lists every problem found and how to fix each (exit 2).
struct CcError : std::invalid_argument {
    using std::invalid_argument::invalid_argument;
};

struct CcOptions {
    std::vector<std::string> inputs; // .c, .S, .s sources; .o objects built by `vmmu cc -c`
    std::string output;              // -o
    std::vector<std::string> flags;  // compiler flags passed through (-O2, -DX=1, -I dir, ...)
    bool compile_only = false;       // -c: one object per source, no link
    bool verbose = false;            // -v: print each command before it runs
};

// Parses what follows `vmmu cc` (gcc's spelling: -o FILE, -c, -O2, -DNAME=V, -I DIR, -lm).
// Throws CcError naming a flag the guest cannot honour and why.
CcOptions parse_cc_args(const std::vector<std::string>& args);

// The SDK directory (DATA/guest/sdk, or VMMU_GUEST_DIR/sdk); throws std::invalid_argument
// naming where it looked when it is missing.
std::filesystem::path sdk_dir();

// Compiles and links; writes options.output only when everything succeeded. Throws CcError
// with the list of problems (undefined functions by name, thread-local storage, constructors,
// data in the wrong place, a dynamic link) and their fixes.
void guest_cc(const CcOptions& options);

// The hint for a function the guest libc lacks ("" if none): what kind of facility it is and
// what to do instead.
std::string missing_symbol_hint(const std::string& name);

} // namespace vmmu
