#!/usr/bin/env bash
# A vmmu without its data directory exits 2 naming every place it looked and the fix; the
# environment overrides (VMMU_DATA_DIR, VMMU_GUEST_DIR with VMMU_PROFILE_DIR) still work.
# Usage: install_missing_data.sh VMMU BUILD
set -euo pipefail
vmmu=$1 build=$(cd "$2" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vmmu-nodata.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/bin"
cp "$vmmu" "$tmp/bin/vmmu"
cd /

fail() { echo "install_missing_data: $*" >&2; exit 1; }
# expect_2 WHAT... -- COMMAND...: exit code 2 and every WHAT in stderr.
expect_2() {
    local want=()
    while [ "$1" != "--" ]; do want+=("$1"); shift; done
    shift
    local rc=0
    "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
    [ "$rc" = 2 ] || fail "$* exited $rc, not 2: $(cat "$tmp/err")"
    for w in "${want[@]}"; do
        grep -qF -- "$w" "$tmp/err" || fail "$* did not say '$w': $(cat "$tmp/err")"
    done
}

unset VMMU_DATA_DIR VMMU_GUEST_DIR VMMU_PROFILE_DIR
expect_2 "$tmp/share/vmmu" "$tmp/bin/share/vmmu" "cmake --install" "VMMU_DATA_DIR" -- \
    "$tmp/bin/vmmu" run --workload hello --quiet
expect_2 "$tmp/share/vmmu" -- "$tmp/bin/vmmu" study scaling --sessions 1 --out "$tmp/s"
expect_2 "$tmp/share/vmmu" -- "$tmp/bin/vmmu" list
echo '{}' >"$tmp/in.json"
expect_2 "$tmp/share/vmmu" -- "$tmp/bin/vmmu" report "$tmp/in.json" -o "$tmp/r.html"
# Bad input is reported as such before the data directory is looked for.
expect_2 "$tmp/missing.json" "does not exist" -- \
    "$tmp/bin/vmmu" report "$tmp/missing.json" -o "$tmp/r.html"
VMMU_DATA_DIR=$tmp/nowhere expect_2 "$tmp/nowhere (VMMU_DATA_DIR)" -- \
    "$tmp/bin/vmmu" run --workload hello --quiet

VMMU_DATA_DIR=$build/share/vmmu "$tmp/bin/vmmu" run --workload hello --quiet --backends native \
    >/dev/null || fail "VMMU_DATA_DIR=$build/share/vmmu did not work"
VMMU_GUEST_DIR=$build/guest VMMU_PROFILE_DIR=$build/share/vmmu/profiles \
    "$tmp/bin/vmmu" run --workload hello --quiet --backends native >/dev/null ||
    fail "VMMU_GUEST_DIR with VMMU_PROFILE_DIR did not work"
echo "a vmmu without data says where it looked"
