// What produced a result: vmmu's version (git at build time), the Unicorn and Capstone versions
// linked, SHA-256 hashes of every input file (kernel, program images, CPU profiles) and the
// profile overrides (`--set`). Every vmmu JSON document carries it as its `provenance` block
// (engine/output/provenance_json.h); `vmmu compare` compares it apart from the values, since
// counters move when any of these do.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace vmmu {

struct Provenance {
    std::string vmmu_version;     // "0.1.0 (git v0.1-42-gabc1234)"
    std::string unicorn_version;  // "2.0.1"
    std::string capstone_version; // "4.0"
    // "kernel", "program/hello.elf", "profile/nehalem-2009" -> "sha256:HEX"
    std::map<std::string, std::string> inputs;
    std::vector<std::string> profile_sets; // --set KEY=VALUE, as given
};

// The versions alone (documents that read no input file: validation, demos).
Provenance tool_provenance();
// "sha256:HEX" of a file's bytes; throws std::runtime_error naming a file it cannot read.
std::string file_sha256(const std::filesystem::path& file);
// "sha256:HEX" of a string.
std::string text_sha256(const std::string& text);

// A provenance difference between two documents: key ("inputs.kernel", "vmmu_version"), values.
struct ProvenanceDifference {
    std::string key, base, now;
    bool tool_only = false; // vmmu's own version: expected when checking a new build
};
// Compares two documents' `provenance` blocks (an absent block is a difference of its own).
// Documents merged from several runs (sweeps) are compared run by run.
std::vector<ProvenanceDifference> compare_provenance(const nlohmann::json& base,
                                                     const nlohmann::json& now);

} // namespace vmmu
