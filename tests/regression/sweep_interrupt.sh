#!/usr/bin/env bash
# SIGTERM sent to a sweep alone (as a scheduler or `kill PID` does, not to its runs): the sweep
# passes it on to the running runs, starts no more, merges what they wrote and exits 143; no run
# is left behind.
# Usage: sweep_interrupt.sh VMMU OUTDIR
set -euo pipefail
vmmu=$1 out=$2
rm -rf "$out"
mkdir -p "$out"
cat >"$out/spec.json" <<'SPEC'
{"schema": "vmmu.sweep-spec/1",
 "workloads": [{"name": "gups", "params": {"table_mib": 4, "updates": [30000000, 30000001, 30000002, 30000003]}}]}
SPEC
"$vmmu" sweep "$out/spec.json" --jobs 2 --out "$out/sw" --no-progress &
pid=$!
# Wait until both runs are under way (each would take minutes), then two seconds more so they are
# past their start-up and inside the guest. ("run[s]" keeps grep from finding its own command.)
runs() { grep -l -a -- "$out/sw/run[s]/" /proc/[0-9]*/cmdline 2>/dev/null | wc -l; }
for _ in $(seq 100); do
    [ "$(runs)" -ge 2 ] && break
    sleep 0.1
done
sleep 2
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
left=$(grep -l -a -- "$out/sw/run[s]/" /proc/[0-9]*/cmdline 2>/dev/null || true)
if [ -n "$left" ]; then
    echo "runs still running after the sweep exited: $left" >&2
    exit 1
fi
[ "$rc" = 143 ] || { echo "sweep exited $rc, expected 143 (128 + SIGTERM)" >&2; exit 1; }
python3 - "$out/sw/sweep.json" <<'PY'
import json, sys
runs = json.load(open(sys.argv[1]))["runs"]
status = sorted((r["result"] or {}).get("status", "none") for r in runs.values())
# The two runs under way stop early and say so; the two never started have no result.
if status != ["incomplete", "incomplete", "none", "none"]:
    sys.exit(f"unexpected run statuses after SIGTERM: {status}")
PY
echo "interrupted sweep: runs stopped, results merged, exit 143"
