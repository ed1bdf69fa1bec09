// The `vmmu` command: parses the command line and runs a subcommand.
#pragma once

namespace vmmu {
// Exit codes: 0 ok, 2 bad input, 3 guest error, 4 oracle mismatch, 5 values moved, 6 some runs
// of a sweep failed, 1 internal error (README.md, "Exit codes").
int cli_main(int argc, char** argv);
} // namespace vmmu
