#include "engine/cli/cli.h"

#include "engine/core/machine.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <unistd.h>

namespace vmmu {
namespace fs = std::filesystem;

namespace {
fs::path guest_dir() {
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return "guest";
    buf[n] = 0;
    return fs::path(buf).parent_path() / "guest";
}
} // namespace

int cli_main(int argc, char** argv) {
    CLI::App app{"vmmu: what memory virtualization costs, measured on a real guest"};
    app.require_subcommand(1);
    auto* run = app.add_subcommand("run", "run a workload");
    std::string workload = "hello";
    uint64_t max_insns = 0;
    run->add_option("--workload", workload, "workload to run");
    run->add_option("--max-instructions", max_insns, "stop after this many guest instructions");
    CLI11_PARSE(app, argc, argv);

    MachineConfig c;
    fs::path g = guest_dir();
    c.kernel_path = g / "kernel.elf";
    for (auto& e : fs::directory_iterator(g / "programs"))
        if (e.path().extension() == ".elf") c.program_paths.push_back(e.path());
    std::sort(c.program_paths.begin(), c.program_paths.end());
    c.cmdline = workload;
    c.max_instructions = max_insns;
    c.echo_console = true;
    Machine m(c);
    RunResult r = m.run();
    fmt::print("instructions: {}\n", r.guest.instructions);
    return r.stop == StopKind::Exited ? 0 : 3;
}

} // namespace vmmu
