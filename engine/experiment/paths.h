// Where vmmu finds what it needs at run time: the guest images next to the executable
// (build/guest/), the CPU profiles in the source tree's workloads/profiles/.
#pragma once

#include <filesystem>
#include <string>

namespace vmmu {

std::filesystem::path executable_dir();
std::filesystem::path guest_dir();
std::filesystem::path profile_dir();

// Writes `text` to `path` through a temporary file and a rename, so a reader never sees a
// half-written file. Throws std::runtime_error naming the path.
void write_file_atomic(const std::filesystem::path& path, const std::string& text);

// Before a command does its work: that it will be able to write its output file (`flag` names
// the option in the message), or into its output directory. Makes missing directories, creates
// and removes a probe file, and throws std::invalid_argument (exit 2) naming the path, the
// reason and the fix, so a typo fails at once, not after the run.
void check_output_file(const std::string& path, const std::string& flag);
void check_output_dir(const std::string& dir, const std::string& flag);

} // namespace vmmu
