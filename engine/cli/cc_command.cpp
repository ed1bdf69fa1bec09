// `vmmu cc`: build a user's C program for the guest (engine/experiment/guest_cc.h).
#include "engine/cli/commands.h"
#include "engine/experiment/guest_cc.h"

#include <fmt/format.h>

#include <string>
#include <vector>

namespace vmmu {

void add_cc_command(CLI::App& app, Action& action) {
    auto* c = app.add_subcommand(
        "cc", "build your own C program for the guest: vmmu cc FILES... -o prog.elf [-O2 -DNAME=V "
              "-I DIR -c -v]; then vmmu run --program prog.elf");
    // gcc's spelling (-O2, -DX=1, -o out) is parsed by parse_cc_args, not by CLI11.
    c->allow_extras();
    c->prefix_command();
    c->footer("The guest SDK (libc, headers, program.ld, flags) comes from vmmu's data directory. "
              "A program using what the guest cannot provide (a missing libc function, "
              "thread-local storage, constructors, a dynamic link) is listed with the fix; exit "
              "code 2. docs/PROGRAMS.md describes the libc and the rules.");
    c->callback([c, &action] {
        std::vector<std::string> args = c->remaining();
        action = [args] {
            try {
                guest_cc(parse_cc_args(args));
            } catch (const CcError& e) {
                // Its message already starts with "vmmu cc:".
                fmt::print(stderr, "{}\n", e.what());
                return 2;
            }
            return 0;
        };
    });
}

} // namespace vmmu
