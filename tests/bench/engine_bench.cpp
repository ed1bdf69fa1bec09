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
// with_block_hook: the same, plus an empty UC_HOOK_BLOCK callback that only counts blocks: the
// floor any engine pays for exact per-block instruction counting on Unicorn 2.0.1 (no icount).
void count_block(uc_engine*, uint64_t, uint32_t, void* user) { ++*static_cast<uint64_t*>(user); }

Measured run_bare(const std::string& fn, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t table_bytes,
                  uint64_t loop_instructions, bool with_block_hook = false) {
    uc_engine* uc;
    uc_open(UC_ARCH_X86, UC_MODE_64, &uc);
    uint64_t blocks = 0;
    uc_hook hook;
    if (with_block_hook)
        uc_hook_add(uc, &hook, UC_HOOK_BLOCK, reinterpret_cast<void*>(count_block), &blocks, 1, 0);
    const uint64_t code = 0x1000, stack = 0x100000, table = 0x1000000;
    uc_mem_map(uc, 0, 0x1000000, UC_PROT_ALL);
    if (table_bytes) uc_mem_map(uc, table, table_bytes, UC_PROT_ALL);
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
    uc_emu_start(uc, code, 0x801, 0, 0);
    double s = cpu_seconds() - t0;
    uc_close(uc);
    return {s, loop_instructions};
}

void report(benchmark::State& state, Measured engine, Measured bare, Measured hooked) {
    auto mips = [](Measured m) { return m.instructions / m.seconds / 1e6; };
    double em = mips(engine), bm = mips(bare), hm = mips(hooked);
    state.counters["engine_MIPS"] = em;
    state.counters["bare_MIPS"] = bm;
    state.counters["bare_block_hook_MIPS"] = hm;
    state.counters["engine/bare"] = em / bm;
    state.counters["engine/bare_block_hook"] = em / hm;
}

// Best (least CPU time) of `runs` interleaved runs of the three variants.
template <class E, class B, class H>
void best_of(benchmark::State& state, int runs, E engine, B bare, H hooked) {
    Measured e{1e30, 0}, b{1e30, 0}, h{1e30, 0};
    auto keep = [](Measured& best, Measured m) {
        if (m.seconds < best.seconds) best = m;
    };
    for (int i = 0; i < runs; ++i) {
        keep(e, engine());
        keep(b, bare());
        keep(h, hooked());
    }
    report(state, e, b, h);
}

void BM_ComputeLoop(benchmark::State& state) {
    // 5 instructions per iteration, 10 M iterations, plus ret.
    const uint64_t n = 5 * 10'000'000ull + 3;
    for (auto _ : state)
        best_of(
            state, 5, [] { return run_engine("compute"); },
            [&] { return run_bare("bench_compute", 10'000'000, 0, 0, 0, n); },
            [&] { return run_bare("bench_compute", 10'000'000, 0, 0, 0, n, true); });
}
BENCHMARK(BM_ComputeLoop)->Unit(benchmark::kMillisecond)->Iterations(1);

void BM_RandomAccessThroughMmio(benchmark::State& state) {
    // 14 instructions per update, 2 M updates, over 16 MiB.
    const uint64_t mask = (16u << 20) / 8 - 1, n = 14 * 2'000'000ull + 2;
    for (auto _ : state)
        best_of(
            state, 5, [] { return run_engine("random"); },
            [&] { return run_bare("bench_random", 0, mask, 2'000'000, 16u << 20, n); },
            [&] { return run_bare("bench_random", 0, mask, 2'000'000, 16u << 20, n, true); });
}
BENCHMARK(BM_RandomAccessThroughMmio)->Unit(benchmark::kMillisecond)->Iterations(1);

} // namespace
} // namespace vmmu

BENCHMARK_MAIN();
