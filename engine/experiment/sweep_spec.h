// A sweep specification (vmmu.sweep-spec/1): a grid of `vmmu run`s, workloads × parameter values ×
// CPU profiles × flag sets, expanded in a fixed order so every machine that reads the same spec
// numbers the runs the same way (which is what makes `--shard I/N` deterministic).
//
//   {"schema": "vmmu.sweep-spec/1",
//    "workloads": [{"name": "gups", "params": {"table_mib": [4, 16], "updates": 20000}}],
//    "profiles": ["penryn-2008", "nehalem-2009"],
//    "flags": [[], ["--ept-pages", "2m"]],
//    "set": {"tlb.stlb.entries": [512, 1024]}}   (each value crossed with each flag set)
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace vmmu {

struct SweepRun {
    size_t index = 0;              // position in the expanded grid
    std::string name;              // file-name-safe and unique: "gups.table_mib=4.nehalem-2009"
    std::vector<std::string> args; // what follows `vmmu run`
};

struct SweepSpec {
    std::string description;
    std::vector<SweepRun> runs;
};

// Reads and expands a spec. Throws std::invalid_argument naming the file, the bad field and the
// fix; every run's flags are parsed like `vmmu run` would parse them before anything starts.
SweepSpec load_sweep_spec(const std::filesystem::path& path);
SweepSpec expand_sweep_spec(const nlohmann::ordered_json& spec, const std::string& where);

// `--shard I/N`: runs whose grid index is I-1 modulo N (I in 1..N, so Slurm array ids and GNU
// parallel job numbers can be passed as they are).
struct Shard {
    unsigned index = 1, count = 1;
    std::string text() const;
};
Shard parse_shard(const std::string& text);
std::vector<SweepRun> shard_runs(const std::vector<SweepRun>& runs, Shard shard);

} // namespace vmmu
