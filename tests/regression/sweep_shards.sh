#!/usr/bin/env bash
# A sweep split into 3 shards run by GNU parallel, then merged, must equal the same sweep run
# whole: every run exactly once, identical values outside "sim".
# Usage: sweep_shards.sh VMMU PARALLEL SPEC OUTDIR
set -euo pipefail
vmmu=$1 parallel=$2 spec=$3 out=$4
if [ ! -x "$parallel" ]; then
    echo "GNU parallel not found: install it (apt-get install parallel), then re-run cmake" >&2
    exit 1
fi
rm -rf "$out"
"$vmmu" sweep "$spec" --jobs 2 --out "$out/whole" --no-progress
"$parallel" --will-cite --halt now,fail=1 -j 3 \
    "$vmmu" sweep "$spec" --jobs 1 --shard {}/3 --out "$out/sharded" --no-progress ::: 1 2 3
"$vmmu" sweep "$spec" --merge --out "$out/sharded"

# The shards are disjoint and together cover the grid.
names() { python3 -c 'import json,sys; [print(k) for k in json.load(open(sys.argv[1]))["runs"]]' "$1"; }
all=$(names "$out/whole/sweep.json" | sort)
shards=$(for i in 1 2 3; do names "$out/sharded/sweep.shard-$i-of-3.json"; done | sort)
if [ "$all" != "$shards" ]; then
    echo "shards do not partition the grid:" >&2
    diff <(echo "$all") <(echo "$shards") >&2 || true
    exit 1
fi
[ "$(echo "$all" | wc -l)" -ge 3 ] || { echo "spec too small to test sharding" >&2; exit 1; }

"$vmmu" compare "$out/whole/sweep.json" "$out/sharded/sweep.json"
"$vmmu" compare "$out/whole/runs" "$out/sharded/runs"
echo "sharded sweep matches the whole sweep"
