#!/usr/bin/env bash
# vmmu developer entry point: installs what is missing (Debian packages), builds, and runs.
#
#   ./dev.sh main    install, build, run the main job (the scaling study, report in results/latest/)
#   ./dev.sh test    install, build, run the whole test suite (ctest)
#   ./dev.sh build   install and build only
set -euo pipefail
cd "$(dirname "$0")"

PACKAGES=(build-essential cmake pkg-config git
          libunicorn-dev libcapstone-dev libgtest-dev googletest libbenchmark-dev
          libbenchmark-tools python3-yaml
          nlohmann-json3-dev libcli11-dev libfmt-dev
          python3 python3-matplotlib clang clang-format libclang-rt-14-dev parallel
          nodejs
          # the classroom pages in a real browser (ctest browser_pages; fonts for screenshots)
          chromium chromium-driver python3-selenium fonts-liberation)
BUILD=${VMMU_BUILD_DIR:-build}
JOBS=${VMMU_JOBS:-$(nproc)}

install_missing() {
    local missing=()
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "dev.sh: installing ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

build() {
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release
    cmake --build "$BUILD" -j "$JOBS"
}

case "${1:-}" in
    main)
        install_missing
        build
        # The scaling study with its defaults, its runs' JSON and the HTML report in results/latest/.
        out=results/latest
        rm -rf "$out"
        rc=0
        "$BUILD/vmmu" study scaling --out "$out" || rc=$?
        [ "$rc" -gt 128 ] && exit "$rc" # stopped by a signal (Ctrl-C: 130)
        [ "$rc" = 0 ] || echo "dev.sh: the study exited with $rc (failed runs are listed in $out/study.json)" >&2
        "$BUILD/vmmu" report "$out/study.json" -o "$out/report.html"
        echo "results: $(pwd)/$out/ (study.json, runs/, report.html)"
        ;;
    test)
        install_missing
        build
        ctest --test-dir "$BUILD" --output-on-failure -j "$JOBS"
        # The parsers under libFuzzer (clang) for a bounded time, then the tests under
        # ASan+UBSan; VMMU_FUZZ_SECONDS=0 or VMMU_SANITIZE_TESTS=0 skip them.
        [ "${VMMU_FUZZ_SECONDS:-20}" = 0 ] || tests/fuzz/run.sh "$BUILD-fuzz" "${VMMU_FUZZ_SECONDS:-20}"
        [ "${VMMU_SANITIZE_TESTS:-1}" = 0 ] || tests/sanitize.sh "$BUILD-asan"
        ;;
    build)
        install_missing
        build
        ;;
    *)
        echo "usage: ./dev.sh main|test|build" >&2
        exit 2
        ;;
esac
