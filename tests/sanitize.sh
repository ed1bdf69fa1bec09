#!/usr/bin/env bash
# The test suite under AddressSanitizer and UndefinedBehaviorSanitizer (-DVMMU_SANITIZE=ON) in its
# own build directory. Every ctest test runs except those labelled "regression" and the long
# whole-guest runs listed in EXCLUDE: they execute the same engine code as the tests that do run,
# only for minutes longer, and ASan slows the guest loop about 3x.
#
#   tests/sanitize.sh [BUILD_DIR]
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build-asan}
jobs=${VMMU_JOBS:-2}
EXCLUDE='^(baseline_check|determinism|sweep_shards_parallel|report_charts_present)$'

cmake -S "$src" -B "$build" -DVMMU_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo > "$build.configure.log" \
    || { cat "$build.configure.log"; exit 1; }
cmake --build "$build" -j "$jobs"
# halt_on_error: the first report fails the test; detect_leaks: the engine must not leak either.
export ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
ctest --test-dir "$build" --output-on-failure -j "$jobs" -LE regression -E "$EXCLUDE"
