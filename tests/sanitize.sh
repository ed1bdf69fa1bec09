#!/usr/bin/env bash
# The whole test suite under AddressSanitizer and UndefinedBehaviorSanitizer (-DVMMU_SANITIZE=ON)
# in its own build directory: every ctest test, including the ones that run the sanitized `vmmu`
# binary as a user would (robustness, baseline check, determinism, sweeps, the report).
#
#   tests/sanitize.sh [BUILD_DIR]
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build-asan}
jobs=${VMMU_JOBS:-2}

# One file per translation unit and no precompiled headers here (the release build uses both):
# a file that compiles only because its unity batch or the precompiled header brought in what it
# uses fails here.
cmake -S "$src" -B "$build" -DVMMU_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DVMMU_UNITY=OFF -DVMMU_PCH=OFF > "$build.configure.log" \
    || { cat "$build.configure.log"; exit 1; }
cmake --build "$build" -j "$jobs"
# halt_on_error: the first report fails the test; detect_leaks: the engine must not leak either.
export ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
ctest --test-dir "$build" --output-on-failure -j "$jobs"
