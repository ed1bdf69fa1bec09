// Where vmmu finds what it needs at run time: the guest images next to the executable
// (build/guest/), the CPU profiles in the source tree's workloads/profiles/.
#pragma once

#include <filesystem>

namespace vmmu {

std::filesystem::path executable_dir();
std::filesystem::path guest_dir();
std::filesystem::path profile_dir();

// Writes `text` to `path` through a temporary file and a rename, so a reader never sees a
// half-written file. Throws std::runtime_error naming the path.
void write_file_atomic(const std::filesystem::path& path, const std::string& text);

} // namespace vmmu
