// Guest failures are reported, not crashed on: panic, an exception the kernel cannot take, a
// program killed by a fault, a process that never exits (instruction budget) and SIGINT. Each
// gives a clear report, the right exit code and a JSON document with the counters so far.
#include "robustness_util.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <sstream>
#include <thread>

namespace vmmu::robust {
namespace {
using nlohmann::json;

// A guest directory (VMMU_GUEST_DIR) with `kernel`, the given programs, and a manifest naming
// `workloads` with no parameters.
fs::path guest_dir(const fs::path& dir, const fs::path& kernel,
                   const std::vector<fs::path>& programs,
                   const std::vector<std::string>& workloads) {
    fs::path g = dir / "guest";
    fs::create_directories(g / "programs");
    fs::copy_file(kernel, g / "kernel.elf");
    for (auto& p : programs) fs::copy_file(p, g / "programs" / p.filename());
    json m = {{"workloads", json::array()}};
    for (auto& w : workloads) m["workloads"].push_back({{"name", w}, {"params", json::array()}});
    write_text(g / "manifest.json", m.dump());
    return g;
}

// The probe test kernel: its command line word picks the misbehaviour.
Outcome run_probe(const std::string& word, const fs::path& dir,
                  std::vector<std::string> extra = {}) {
    fs::path g = guest_dir(dir, fs::path(VMMU_GUEST_DIR) / "tests/probe.elf", {}, {word});
    std::vector<std::string> args = {"run",     "--workload", word,
                                     "--quiet", "--json",     (dir / "run.json").string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_vmmu(args, dir, {{"VMMU_GUEST_DIR", g.string()}});
}

// The real kernel and init, plus the robustness test programs.
fs::path real_guest(const fs::path& dir) {
    fs::path built = VMMU_GUEST_DIR, robust = VMMU_ROBUST_GUEST_DIR;
    return guest_dir(
        dir, built / "kernel.elf",
        {built / "programs/init.elf", robust / "robust_forever.elf", robust / "robust_crash.elf"},
        {"robust_forever", "robust_crash"});
}

// User + system CPU time of a running process, from /proc/PID/stat (fields 14 and 15).
double cpu_seconds(pid_t pid) {
    std::string stat = read_text(fs::path("/proc") / std::to_string(pid) / "stat");
    auto close = stat.rfind(')');
    if (close == std::string::npos) return 0;
    std::istringstream in(stat.substr(close + 2));
    std::string field;
    unsigned long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && in >> field; ++i) {
        if (i == 14) utime = std::stoul(field);
        if (i == 15) stime = std::stoul(field);
    }
    return double(utime + stime) / double(sysconf(_SC_CLK_TCK));
}

json run_doc(const fs::path& dir) { return json::parse(read_text(dir / "run.json")); }

void expect_no_temporaries(const fs::path& dir) {
    for (auto& e : fs::directory_iterator(dir))
        EXPECT_FALSE(has(e.path().filename().string(), ".tmp")) << e.path();
}

TEST(RobustGuest, PanicIsReportedWithExitCode3AndGuestErrorJson) {
    fs::path dir = scratch(test_name());
    Outcome o = run_probe("panic", dir);
    EXPECT_FAILS_WITH(o, 3, "guest error (guest_error)", "guest panic", "at RIP 0x",
                      "last guest events");
    json j = run_doc(dir);
    EXPECT_EQ(j["status"], "guest_error");
    EXPECT_EQ(j["stop"]["kind"], "panic");
    EXPECT_GT(j["guest"]["instructions"].get<uint64_t>(), 0u);
    ASSERT_FALSE(j["stop"]["recent_events"].empty());
    EXPECT_TRUE(has(j["stop"]["recent_events"].back().get<std::string>(), "panic hypercall"));
}

TEST(RobustGuest, UndeliverableExceptionIsATripleFaultWithDisassemblyAndSymbol) {
    fs::path dir = scratch(test_name());
    Outcome o = run_probe("ud", dir);
    EXPECT_FAILS_WITH(o, 3, "triple fault", "vector 6", "ud2", "<kmain");
    json j = run_doc(dir);
    EXPECT_EQ(j["status"], "guest_error");
    EXPECT_EQ(j["stop"]["kind"], "guest_fault");
    EXPECT_TRUE(has(j["stop"]["instruction"].get<std::string>(), "ud2"));
    EXPECT_TRUE(has(j["stop"]["symbol"].get<std::string>(), "kmain"));
    ASSERT_FALSE(j["stop"]["recent_events"].empty());
    EXPECT_TRUE(has(j["stop"]["recent_events"].back().get<std::string>(), "exception"));
}

TEST(RobustGuest, InstructionBudgetGivesIncompleteJsonWithTheCountersSoFar) {
    fs::path dir = scratch(test_name());
    Outcome o = run_probe("spin", dir, {"--max-instructions", "200000"});
    EXPECT_FAILS_WITH(o, 3, "incomplete", "instruction budget of 200000 exhausted");
    json j = run_doc(dir);
    EXPECT_EQ(j["status"], "incomplete");
    EXPECT_EQ(j["stop"]["kind"], "budget");
    EXPECT_GE(j["guest"]["instructions"].get<uint64_t>(), 200000u);
    EXPECT_LT(j["guest"]["instructions"].get<uint64_t>(), 201000u);
    EXPECT_GT(j["backends"]["native"]["tlb"]["l1i_lookups"].get<uint64_t>(), 0u)
        << j["backends"]["native"].dump();
    expect_no_temporaries(dir);
}

TEST(RobustGuest, ProcessThatNeverExitsIsStoppedByTheBudget) {
    fs::path dir = scratch(test_name());
    fs::path g = real_guest(dir);
    Outcome o = run_vmmu({"run", "--workload", "robust_forever", "--max-instructions", "3000000",
                          "--json", (dir / "run.json").string()},
                         dir, {{"VMMU_GUEST_DIR", g.string()}});
    EXPECT_FAILS_WITH(o, 3, "incomplete", "instruction budget of 3000000 exhausted");
    EXPECT_TRUE(has(o.out, "robust_forever: spinning")) << o.out;
    json j = run_doc(dir);
    EXPECT_EQ(j["status"], "incomplete");
    EXPECT_GT(j["guest"]["timer_interrupts"].get<uint64_t>(), 0u);
    EXPECT_FALSE(j["stop"]["recent_events"].empty());
}

// With --quiet the console is not echoed, so a failing run quotes its last lines: that is where a
// guest program says why it gave up.
TEST(RobustGuest, QuietRunQuotesTheGuestConsoleWhenItFails) {
    fs::path dir = scratch(test_name());
    fs::path g = real_guest(dir);
    Outcome o = run_vmmu(
        {"run", "--quiet", "--workload", "robust_forever", "--max-instructions", "3000000"}, dir,
        {{"VMMU_GUEST_DIR", g.string()}});
    EXPECT_FAILS_WITH(o, 3, "guest console, last lines:", "| robust_forever: spinning");
    EXPECT_FALSE(has(o.out, "robust_forever: spinning")) << o.out; // --quiet: not echoed
}

TEST(RobustGuest, ProgramKilledByAFaultFailsTheRun) {
    fs::path dir = scratch(test_name());
    fs::path g = real_guest(dir);
    Outcome o =
        run_vmmu({"run", "--workload", "robust_crash", "--json", (dir / "run.json").string()}, dir,
                 {{"VMMU_GUEST_DIR", g.string()}});
    EXPECT_FAILS_WITH(o, 3, "guest error (guest_error)", "exit status");
    EXPECT_TRUE(has(o.out, "killed")) << o.out;
    json j = run_doc(dir);
    EXPECT_EQ(j["status"], "guest_error");
    EXPECT_GE(j["guest"]["page_faults"].get<uint64_t>(), 1u);
}

TEST(RobustGuest, SigintStopsTheRunWritesIncompleteJsonAndExits130) {
    fs::path dir = scratch(test_name());
    fs::path g = real_guest(dir);
    Child c({"run", "--workload", "robust_forever", "--json", (dir / "run.json").string()}, dir,
            {{"VMMU_GUEST_DIR", g.string()}});
    // The console echo is block-buffered into a file, so wait for CPU time instead: booting takes
    // about 0.1 s, so after 1 s of CPU the guest program is spinning inside the run loop.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (cpu_seconds(c.pid()) < 1.0 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    kill(c.pid(), SIGINT);
    Outcome o = c.wait();
    EXPECT_FAILS_WITH(o, 130, "interrupted");
    json j = run_doc(dir);
    EXPECT_EQ(j["status"], "incomplete");
    EXPECT_EQ(j["stop"]["kind"], "interrupted");
    EXPECT_GT(j["guest"]["instructions"].get<uint64_t>(), 0u);
    expect_no_temporaries(dir);
}

} // namespace
} // namespace vmmu::robust
