// Where vmmu finds what it needs at run time: one data directory holding guest/ (kernel.elf,
// programs/*.elf, manifest.json), profiles/, scenarios/, schema/ and report/make_report.py.
// Installed, it is P/share/vmmu beside P/bin/vmmu; in the build tree, build/share/vmmu (staged by
// CMake; its guest/ links to build/guest/).
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace vmmu {

// The running executable ("" if /proc/self/exe cannot be read) and its directory.
std::filesystem::path executable_path();
std::filesystem::path executable_dir();
// A whole file as text ("" if it cannot be read).
std::string read_text(const std::filesystem::path& path);

// The places a data directory is looked for, in order: `env_data_dir` (VMMU_DATA_DIR) alone when
// set, else EXE_DIR/../share/vmmu (installed) and EXE_DIR/share/vmmu (build tree).
std::vector<std::filesystem::path> data_dir_candidates(const std::filesystem::path& exe_dir,
                                                       const char* env_data_dir);

// The first candidate that is a data directory (holds profiles/). Throws std::invalid_argument
// (exit 2) naming every place it looked and how to fix it.
std::filesystem::path find_data_dir(const std::filesystem::path& exe_dir, const char* env_data_dir);

// find_data_dir for this executable and VMMU_DATA_DIR. Every lookup below goes through it.
std::filesystem::path data_dir();

// VMMU_GUEST_DIR, else DATA/guest.
std::filesystem::path guest_dir();
// VMMU_PROFILE_DIR, else DATA/profiles.
std::filesystem::path profile_dir();
// DATA/scenarios (`vmmu run --scenario NAME`), DATA/report/make_report.py (`vmmu report`).
// DATA/schema holds the JSON schemas for readers of vmmu's output; vmmu itself reads none.
std::filesystem::path scenario_dir();
std::filesystem::path report_script();

// Writes `text` to `path` through a temporary file and a rename, so a reader never sees a
// half-written file. Throws std::runtime_error naming the path.
void write_file_atomic(const std::filesystem::path& path, const std::string& text);

// Before a command does its work: that it will be able to write its output file (`flag` names
// the option in the message), or into its output directory. Makes missing directories, creates
// and removes a probe file, and throws std::invalid_argument (exit 2) naming the path, the
// reason and the fix, so a typo fails at once, not after the run.
void check_output_file(const std::string& path, const std::string& flag);
void check_output_dir(const std::string& dir, const std::string& flag);

// Why nlohmann rejected `text`, for a person: "line L, column C: what" (from the byte offset it
// reports), or that a number is out of range (1e400), without nlohmann's exception prefix.
std::string json_error_text(const std::string& text, const nlohmann::json::exception& e);

} // namespace vmmu
