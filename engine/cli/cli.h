// The `vmmu` command: parses the command line and runs a subcommand.
#pragma once

namespace vmmu {
// Exit codes: 0 ok, 2 bad input, 3 guest error, 4 oracle mismatch, 1 internal error.
int cli_main(int argc, char** argv);
} // namespace vmmu
