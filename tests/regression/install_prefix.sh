#!/usr/bin/env bash
# `cmake --install` into a fresh prefix gives a vmmu that works from any directory: a run, a
# small study, its report, a shipped scenario by name; the install holds no build-tree link.
# Usage: install_prefix.sh CMAKE BUILD
set -euo pipefail
cmake=$1 build=$(cd "$2" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vmmu-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"$cmake" --install "$build" --prefix "$tmp" >/dev/null

fail() { echo "install_prefix: $*" >&2; exit 1; }
data=$tmp/share/vmmu
for f in bin/vmmu share/vmmu/guest/kernel.elf share/vmmu/guest/manifest.json \
         share/vmmu/guest/programs/hello.elf share/vmmu/profiles/nehalem-2009.json \
         share/vmmu/scenarios/gups-slat-2m.json share/vmmu/schema/vmmu.run.schema.json; do
    [ -f "$tmp/$f" ] || fail "$f is not installed"
done
[ -x "$data/report/make_report.py" ] || fail "the report script is not installed executable"
[ -z "$(find "$tmp" -type l)" ] || fail "the install holds links: $(find "$tmp" -type l)"
[ ! -e "$data/guest/tests" ] || fail "test guests were installed"

cd /
"$tmp/bin/vmmu" run --workload hello --quiet --backends native
"$tmp/bin/vmmu" study scaling --sessions 1 --jobs 1 --out "$tmp/s"
"$tmp/bin/vmmu" report "$tmp/s/study.json" -o "$tmp/s/r.html"
[ -s "$tmp/s/r.html" ] || fail "vmmu report wrote no $tmp/s/r.html"
grep -q "<html" "$tmp/s/r.html" || fail "$tmp/s/r.html is not HTML"
"$tmp/bin/vmmu" run --scenario gups-slat-2m --quiet --json "$tmp/scenario.json" >/dev/null
[ -s "$tmp/scenario.json" ] || fail "the shipped scenario gups-slat-2m did not run"
echo "installed vmmu works from /"
