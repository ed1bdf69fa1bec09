// Floating point in user programs, on the real kernel: FPU/SSE state per process across many
// context switches, and the guest libc's output against glibc's for the same source (the test
// programs in tests/guests/ are standard C, built for both; tests/fpu.cmake).
#include "engine/core/machine.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <string>

namespace vmmu {
namespace {

RunResult boot(const std::string& cmdline, uint64_t timer_period = 0) {
    MachineConfig c;
    c.kernel_path = VMMU_GUEST_DIR "/kernel.elf";
    c.program_paths = {VMMU_GUEST_DIR "/programs/init.elf", VMMU_FPU_GUEST_DIR "/fpu_mix.elf",
                       VMMU_FPU_GUEST_DIR "/libc_check.elf", VMMU_FPU_GUEST_DIR "/math_check.elf"};
    c.cmdline = cmdline;
    if (timer_period) c.timer_period = timer_period;
    c.max_instructions = 3'000'000'000;
    Machine m(c);
    return m.run();
}

std::string host_output(const std::string& command) {
    std::string out;
    FILE* p = popen(command.c_str(), "r");
    if (!p) return "popen failed";
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    pclose(p);
    return out;
}

// What the programs printed: the console without the kernel's own lines (boot, shutdown).
std::string program_output(const RunResult& r) {
    std::istringstream in(r.console);
    std::string out, line;
    while (std::getline(in, line))
        if (line.rfind("vmmu kernel: ", 0) != 0 && line.rfind("kernel: ", 0) != 0)
            out += line + "\n";
    return out;
}

uint64_t key(const RunResult& r, const std::string& k) {
    auto it = r.reported.find(k);
    return it == r.reported.end() ? ~uint64_t{0} : it->second;
}

void expect_clean_exit(const RunResult& r) {
    ASSERT_EQ(r.stop, StopKind::Exited) << r.message << " at " << r.symbol << "\n" << r.console;
    EXPECT_EQ(r.exit_status, 0) << r.console;
}

// The first line that differs, for a readable failure.
std::string first_difference(const std::string& a, const std::string& b) {
    std::istringstream x(a), y(b);
    std::string l1, l2;
    for (int line = 1;; ++line) {
        bool m1 = static_cast<bool>(std::getline(x, l1)),
             m2 = static_cast<bool>(std::getline(y, l2));
        if (!m1 && !m2) return "identical";
        if (!m1 || !m2 || l1 != l2)
            return "line " + std::to_string(line) + ":\n guest: " + (m1 ? l1 : "<end>") +
                   "\n host:  " + (m2 ? l2 : "<end>");
    }
}

// Two processes compute with SSE2 vectors, x87 long doubles and their own rounding modes while
// the timer preempts them every few thousand instructions: results equal the host's only if
// every switch saved and restored the right state.
TEST(Fpu, TwoProcessesKeepTheirStateAcrossManySwitches) {
    RunResult r = boot("fpu_mix", 5000);
    expect_clean_exit(r);
    std::string host = host_output(FPU_MIX_HOST), guest = program_output(r);
    EXPECT_EQ(guest, host) << first_difference(guest, host);
    // Preempted in the middle of its loops hundreds of times, and each switch between the two
    // processes moved FPU state.
    EXPECT_GE(key(r, "kernel.context_switches"), 200u);
    EXPECT_GE(key(r, "kernel.fpu_switches"), 200u);
    EXPECT_GE(key(r, "kernel.timer_ticks"), 200u);
}

// A process that yields to itself keeps its registers: the kernel moves FPU state only when
// another process takes the CPU (the owner record), so one process alone never switches it
// beyond its first load.
TEST(Fpu, StateMovesOnlyBetweenProcesses) {
    RunResult r = boot("math_check 5");
    expect_clean_exit(r);
    // init, then math_check's process (init's child): a few switches, each a handover.
    EXPECT_LE(key(r, "kernel.fpu_switches"), key(r, "kernel.context_switches"));
    EXPECT_GE(key(r, "kernel.fpu_switches"), 2u);
}

// printf %f %e %g %a with flags, widths and precisions over edge cases and pseudo-random
// doubles, strtod, strtol, qsort, bsearch, rand, the exact math functions: byte-identical.
TEST(Fpu, LibcOutputEqualsGlibcs) {
    RunResult r = boot("libc_check 150");
    expect_clean_exit(r);
    std::string host = host_output(std::string(LIBC_CHECK_HOST) + " 150");
    ASSERT_GT(host.size(), 100000u);
    std::string guest = program_output(r);
    EXPECT_EQ(guest, host) << first_difference(guest, host);
}

int64_t ordered(double d) {
    int64_t i;
    std::memcpy(&i, &d, sizeof i);
    return i < 0 ? INT64_MIN - i : i;
}

// exp, log, log2, log10, pow: within one ulp of glibc's everywhere, identical almost always.
TEST(Fpu, MathFunctionsWithinOneUlpOfGlibc) {
    RunResult r = boot("math_check 400");
    expect_clean_exit(r);
    std::istringstream in(program_output(r));
    std::string fn, line;
    int lines = 0, differ = 0;
    int64_t worst = 0;
    while (std::getline(in, line)) {
        std::istringstream ls(line);
        ls >> fn;
        if (fn == "clock") continue;
        std::string a, b, c;
        ls >> a >> b;
        double x = std::strtod(a.c_str(), nullptr), got = 0, want = 0;
        if (fn == "pow") {
            ls >> c;
            double y = std::strtod(b.c_str(), nullptr);
            got = std::strtod(c.c_str(), nullptr);
            want = std::pow(x, y);
        } else {
            got = std::strtod(b.c_str(), nullptr);
            want = fn == "exp"    ? std::exp(x)
                   : fn == "log"  ? std::log(x)
                   : fn == "log2" ? std::log2(x)
                                  : std::log10(x);
        }
        int64_t ulps = std::llabs(ordered(got) - ordered(want));
        worst = std::max(worst, ulps);
        differ += ulps != 0;
        ++lines;
    }
    EXPECT_EQ(lines, 2000);
    EXPECT_LE(worst, 1);
    EXPECT_LE(differ, lines / 100) << differ << " of " << lines << " differ by one ulp";
    std::printf("math: %d of %d results differ from glibc's, by at most %lld ulp\n", differ, lines,
                static_cast<long long>(worst));
}

// clock() counts guest instructions: monotonic, and the same in every run.
TEST(Fpu, ClockCountsGuestInstructions) {
    RunResult a = boot("math_check 20"), b = boot("math_check 20");
    expect_clean_exit(a);
    auto pos = a.console.find("clock ");
    ASSERT_NE(pos, std::string::npos) << a.console;
    long start = 0, end = 0, sec = -1, nsec = -1;
    std::sscanf(a.console.c_str() + pos, "clock %ld %ld %ld %ld", &start, &end, &sec, &nsec);
    EXPECT_GT(start, 0);
    EXPECT_GT(end, start);
    EXPECT_LT(static_cast<uint64_t>(end), a.guest.instructions);
    EXPECT_GE(sec * 1000000000L + nsec, end); // read after clock()'s second call
    EXPECT_EQ(a.console, b.console);          // deterministic
}

} // namespace
} // namespace vmmu
