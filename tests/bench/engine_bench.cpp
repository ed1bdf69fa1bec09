// Guest MIPS of the engine's functional layer (no backends) on two loops, next to the very same
// machine code on a bare Unicorn (flat memory, no paging, no MMIO, no hooks), so the engine's
// overhead is one printed ratio. The loops live in tests/guests/probe.c (bench_compute,
// bench_random) and are position-independent. Each figure is the best of 5 interleaved runs in
// process CPU time: on a shared machine a single wall-clock run varies by a third.
#include "engine/core/elf_image.h"
#include "engine/core/machine.h"

#include <benchmark/benchmark.h>
#include <unicorn/unicorn.h>

#include <algorithm>
#include <ctime>
#include <stdexcept>
#include <vector>

namespace vmmu {
namespace {

const ElfImage& probe() {
    static ElfImage img = read_elf(VMMU_GUEST_DIR "/tests/probe.elf");
    return img;
}

std::vector<uint8_t> code_of(const std::string& fn) {
    const ElfImage& img = probe();
    uint64_t b = img.symbols.at(fn), e = img.symbols.at(fn + "_end");
    for (auto& s : img.segments)
        if (s.exec && b >= s.vaddr && e <= s.vaddr + s.file_size)
            return {img.bytes.begin() + (s.file_offset + b - s.vaddr),
                    img.bytes.begin() + (s.file_offset + e - s.vaddr)};
    throw std::runtime_error("bench loop not found in probe.elf");
}

struct Measured {
    double seconds;
    uint64_t instructions;
};

double cpu_seconds() {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

Measured run_engine(const std::string& mode) {
    MachineConfig c;
    c.kernel_path = VMMU_GUEST_DIR "/tests/probe.elf";
    c.cmdline = mode;
    c.guest_bytes = uint64_t{256} << 20;
    // The probe's loops run with interrupts off; no ticks keeps the comparison about the loops.
    c.timer_period = uint64_t{1} << 50;
    Machine m(c);
    double t0 = cpu_seconds();
    RunResult r = m.run();
    double s = cpu_seconds() - t0;
    if (r.stop != StopKind::Exited) throw std::runtime_error("probe failed: " + r.message);
    return {s, r.guest.instructions};
}

// The same loop on a bare Unicorn: code at 0x1000, a return to a hlt, table in plain RAM.
//   Plain:       no hooks, no paging.
//   BlockHook:   plus an empty UC_HOOK_BLOCK callback that only counts blocks: the floor any
//                engine pays for exact per-block instruction counting on Unicorn 2.0.1 (no icount).
//   EngineSetup: the block hook plus the engine's other Unicorn settings, all empty: the
//                memory hook that keeps RIP exact (bound to address 0), the unmapped/protection
//                hook, the interrupt and syscall hooks, a code hook elsewhere, exits enabled,
//                and long-mode paging (identity 2 MiB pages). What separates this from the
//                engine is the hooks' bodies and the MMIO data path.
enum class Setup { Plain, BlockHook, EngineSetup };

void count_block(uc_engine*, uint64_t, uint32_t, void* user) { ++*static_cast<uint64_t*>(user); }
void no_mem(uc_engine*, uc_mem_type, uint64_t, int, int64_t, void*) {}
bool no_bad(uc_engine*, uc_mem_type, uint64_t, int, int64_t, void*) { return false; }
void no_intr(uc_engine*, uint32_t, void*) {}
void no_syscall(uc_engine*, void*) {}
void no_code(uc_engine*, uint64_t, uint32_t, void*) {}

// Identity-maps [0, 64 MiB) with 2 MiB pages (tables at 0x80000) and turns on long-mode paging.
void enable_paging(uc_engine* uc) {
    const uint64_t pml4 = 0x80000, pdpt = 0x81000, pd = 0x82000;
    uint64_t e = pdpt | 3;
    uc_mem_write(uc, pml4, &e, 8);
    e = pd | 3;
    uc_mem_write(uc, pdpt, &e, 8);
    for (uint64_t i = 0; i < 32; ++i) {
        e = (i << 21) | 0x83; // present, writable, 2 MiB
        uc_mem_write(uc, pd + 8 * i, &e, 8);
    }
    uint64_t cr4 = (1 << 5) | (1 << 7) | (1 << 9) | (1 << 10); // PAE, PGE, OSFXSR, OSXMMEXCPT
    uc_x86_msr efer{0xc0000080, (1 << 0) | (1 << 8) | (1 << 10) | (1 << 11)};
    uint64_t cr0 = (1ull << 31) | (1 << 16) | (1 << 0) | (1 << 1) | (1 << 4) | (1 << 5);
    uint64_t cr3 = pml4;
    uc_reg_write(uc, UC_X86_REG_CR4, &cr4);
    uc_reg_write(uc, UC_X86_REG_MSR, &efer);
    uc_reg_write(uc, UC_X86_REG_CR3, &cr3);
    uc_reg_write(uc, UC_X86_REG_CR0, &cr0);
}

Measured run_bare(const std::string& fn, uint64_t a0, uint64_t a1, uint64_t a2,
                  uint64_t table_bytes, uint64_t loop_instructions, Setup setup = Setup::Plain) {
    uc_engine* uc;
    uc_open(UC_ARCH_X86, UC_MODE_64, &uc);
    uint64_t blocks = 0;
    uc_hook h;
    auto hook = [&](int type, auto* cb, void* user, uint64_t b, uint64_t e) {
        uc_hook_add(uc, &h, type, reinterpret_cast<void*>(cb), user, b, e);
    };
    if (setup != Setup::Plain) hook(UC_HOOK_BLOCK, count_block, &blocks, 1, 0);
    if (setup == Setup::EngineSetup) {
        hook(UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE, no_mem, nullptr, 0, 0);
        hook(UC_HOOK_MEM_UNMAPPED | UC_HOOK_MEM_PROT, no_bad, nullptr, 1, 0);
        hook(UC_HOOK_INTR, no_intr, nullptr, 1, 0);
        uc_hook_add(uc, &h, UC_HOOK_INSN, reinterpret_cast<void*>(no_syscall), nullptr, 1, 0,
                    UC_X86_INS_SYSCALL);
        hook(UC_HOOK_CODE, no_code, nullptr, 0xf00000, 0xf00000);
        uc_ctl_exits_enable(uc);
    }
    const uint64_t code = 0x1000, stack = 0x100000, table = 0x1000000;
    uc_mem_map(uc, 0, 0x1000000, UC_PROT_ALL);
    if (table_bytes) uc_mem_map(uc, table, table_bytes, UC_PROT_ALL);
    if (setup == Setup::EngineSetup) enable_paging(uc);
    auto bytes = code_of(fn);
    uint8_t hlt = 0xf4;
    uc_mem_write(uc, code, bytes.data(), bytes.size());
    uc_mem_write(uc, 0x800, &hlt, 1);
    uint64_t ret = 0x800, rsp = stack - 8, rdi = table_bytes ? table : a0;
    uc_mem_write(uc, rsp, &ret, 8);
    uc_reg_write(uc, UC_X86_REG_RSP, &rsp);
    uc_reg_write(uc, UC_X86_REG_RDI, &rdi);
    uc_reg_write(uc, UC_X86_REG_RSI, &a1);
    uc_reg_write(uc, UC_X86_REG_RDX, &a2);
    double t0 = cpu_seconds();
    uc_err err = uc_emu_start(uc, code, 0x801, 0, 0);
    double s = cpu_seconds() - t0;
    uc_close(uc);
    if (err != UC_ERR_OK) throw std::runtime_error(std::string("bare run: ") + uc_strerror(err));
    return {s, loop_instructions};
}

void report(benchmark::State& state, Measured engine, Measured bare, Measured hooked,
            Measured setup) {
    auto mips = [](Measured m) { return m.instructions / m.seconds / 1e6; };
    double em = mips(engine), bm = mips(bare), hm = mips(hooked), sm = mips(setup);
    state.counters["engine_MIPS"] = em;
    state.counters["bare_MIPS"] = bm;
    state.counters["bare_block_hook_MIPS"] = hm;
    state.counters["bare_engine_setup_MIPS"] = sm;
    state.counters["engine/bare"] = em / bm;
    state.counters["engine/bare_block_hook"] = em / hm;
    state.counters["engine/bare_engine_setup"] = em / sm;
}

// Best (least CPU time) of `runs` interleaved runs of the engine and the three bare setups.
template <class Engine, class Bare>
void best_of(benchmark::State& state, int runs, Engine engine, Bare bare) {
    Measured best[4];
    for (auto& m : best) m = {1e30, 0};
    auto keep = [](Measured& b, Measured m) {
        if (m.seconds < b.seconds) b = m;
    };
    for (int i = 0; i < runs; ++i) {
        keep(best[0], engine());
        keep(best[1], bare(Setup::Plain));
        keep(best[2], bare(Setup::BlockHook));
        keep(best[3], bare(Setup::EngineSetup));
    }
    report(state, best[0], best[1], best[2], best[3]);
}

void BM_ComputeLoop(benchmark::State& state) {
    // 5 instructions per iteration, 10 M iterations, plus ret.
    const uint64_t n = 5 * 10'000'000ull + 3;
    for (auto _ : state)
        best_of(
            state, 5, [] { return run_engine("compute"); },
            [&](Setup setup) { return run_bare("bench_compute", 10'000'000, 0, 0, 0, n, setup); });
}
BENCHMARK(BM_ComputeLoop)->Unit(benchmark::kMillisecond)->Iterations(1);

void BM_RandomAccessThroughMmio(benchmark::State& state) {
    // 14 instructions per update, 2 M updates, over 16 MiB.
    const uint64_t mask = (16u << 20) / 8 - 1, n = 14 * 2'000'000ull + 2;
    for (auto _ : state)
        best_of(
            state, 5, [] { return run_engine("random"); },
            [&](Setup setup) {
                return run_bare("bench_random", 0, mask, 2'000'000, 16u << 20, n, setup);
            });
}
BENCHMARK(BM_RandomAccessThroughMmio)->Unit(benchmark::kMillisecond)->Iterations(1);

// Several vCPUs: the same total guest work (tests/guests/smp_probe.c "work": 20 M passes of a
// 5-instruction loop split over the CPUs) on 1 and on 4 vCPUs at the default quantum. What the
// 4-vCPU run adds is the round-robin switching between Unicorn instances and the APs' start.
// Host time is CPU time of this single-threaded process (wall time on an idle machine).
Measured run_smp_work(unsigned vcpus, uint64_t quantum) {
    MachineConfig c;
    c.kernel_path = VMMU_GUEST_DIR "/tests/smp_probe.elf";
    c.cmdline = "work";
    c.guest_bytes = uint64_t{64} << 20;
    c.timer_period = uint64_t{1} << 50;
    c.vcpus = vcpus;
    c.vcpu_quantum = quantum;
    Machine m(c);
    double t0 = cpu_seconds();
    RunResult r = m.run();
    double s = cpu_seconds() - t0;
    if (r.stop != StopKind::Exited) throw std::runtime_error("smp probe failed: " + r.message);
    return {s, r.guest.instructions};
}

void BM_FourVcpusAgainstOne(benchmark::State& state) {
    uint64_t quantum = static_cast<uint64_t>(state.range(0));
    for (auto _ : state) {
        Measured one{1e9, 0}, four{1e9, 0};
        for (int i = 0; i < 3; ++i) {
            Measured a = run_smp_work(1, quantum), b = run_smp_work(4, quantum);
            if (a.seconds < one.seconds) one = a;
            if (b.seconds < four.seconds) four = b;
        }
        state.counters["one_vcpu_ms"] = one.seconds * 1e3;
        state.counters["four_vcpus_ms"] = four.seconds * 1e3;
        state.counters["ratio"] = four.seconds / one.seconds;
        state.counters["guest_insns_1"] = static_cast<double>(one.instructions);
        state.counters["guest_insns_4"] = static_cast<double>(four.instructions);
    }
}
BENCHMARK(BM_FourVcpusAgainstOne)
    ->Arg(static_cast<int64_t>(kDefaultVcpuQuantum))
    ->Arg(1000)
    ->Arg(100)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);

} // namespace
} // namespace vmmu

BENCHMARK_MAIN();
