#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, -DVMMU_FUZZ=ON) in their own build directory and runs each
# for a bounded time on its committed seed corpus, tests/fuzz/corpus/<target>/. New inputs go to
# the build directory; a crash leaves its input in BUILD/fuzz-<target>/artifacts/ and fails.
#
#   tests/fuzz/run.sh [BUILD_DIR] [SECONDS_PER_TARGET]
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$src/build-fuzz}
secs=${2:-20}
jobs=${VMMU_JOBS:-2}

# One object per file: a fuzz target compiles its parser itself with coverage, and the linker
# must not pull a unity batch holding the same file from the library.
CC=clang CXX=clang++ cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVMMU_FUZZ=ON \
    -DVMMU_UNITY=OFF -DVMMU_PCH=OFF \
    > "$build.configure.log" || { cat "$build.configure.log"; exit 1; }
cmake --build "$build" -j "$jobs" --target profile_fuzz scenario_fuzz elf_fuzz

status=0
for t in profile scenario elf; do
    work="$build/fuzz-$t"
    mkdir -p "$work/corpus" "$work/artifacts"
    echo "fuzz: $t for ${secs}s"
    if ! "$build/fuzz/${t}_fuzz" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
            -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
            "$work/corpus" "$src/tests/fuzz/corpus/$t" > "$work/log" 2>&1; then
        echo "fuzz: $t FAILED (input and log in $work/)"
        tail -40 "$work/log"
        status=1
    else
        grep -E "stat::number_of_executed_units|stat::new_units_added" "$work/log" | sed "s/^/fuzz: $t /"
    fi
done
exit $status
