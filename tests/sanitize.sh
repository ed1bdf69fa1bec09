#!/usr/bin/env bash
# The test suites under AddressSanitizer and UndefinedBehaviorSanitizer (-DVMMU_SANITIZE=ON) in
# their own build directory: the models (TLB, walk caches, profiles, native, slat, shadow, their
# property tests), the engine core on its probe guests, and the whole-guest suites (the kernel's
# workloads, the oracle on every workload, multi-VM and deduplication, compare, the exit demo,
# the study's capacity model, and robustness through the sanitized `vmmu` binary).
#
#   tests/sanitize.sh [BUILD_DIR]
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build-asan}
jobs=${VMMU_JOBS:-2}
SUITES=(tlb_test pwc_test profile_test native_backend_test slat_walker_test mmu_property_test
        shadow_backend_test shadow_property_test engine_core_test
        kernel_workloads_test oracle_workloads_test multivm_test dedup_test compare_test
        study_test demo_exits_test robustness_test)

cmake -S "$src" -B "$build" -DVMMU_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo > "$build.configure.log" \
    || { cat "$build.configure.log"; exit 1; }
cmake --build "$build" -j "$jobs" --target "${SUITES[@]}" vmmu
# halt_on_error: the first report fails the test; detect_leaks: the engine must not leak either.
export ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
labels=$(IFS='|'; echo "^(${SUITES[*]})\$")
ctest --test-dir "$build" --output-on-failure -j "$jobs" -L "$labels"
