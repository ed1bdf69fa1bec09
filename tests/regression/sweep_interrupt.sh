#!/usr/bin/env bash
# SIGTERM sent to a sweep alone (as a scheduler or `kill PID` does, not to its runs): the sweep
# passes it on to the running runs, starts no more, merges what they wrote and exits 143; no run
# is left behind. Then SIGKILL to a sweep (no chance to pass anything on): its runs still stop
# (they asked for SIGTERM when their parent dies) and write their JSON.
# Usage: sweep_interrupt.sh VMMU OUTDIR
set -euo pipefail
vmmu=$1 out=$2
rm -rf "$out"
mkdir -p "$out"
cat >"$out/spec.json" <<'SPEC'
{"schema": "vmmu.sweep-spec/1",
 "workloads": [{"name": "gups", "params": {"table_mib": 4, "updates": [30000000, 30000001, 30000002, 30000003]}}]}
SPEC
# Starts the sweep into $1 and waits until both runs are under way (each would take minutes),
# then two seconds more so they are past their start-up and inside the guest. ("run[s]" keeps
# grep from finding its own command.)
runs() { grep -l -a -- "$1/run[s]/" /proc/[0-9]*/cmdline 2>/dev/null || true; }
start_sweep() {
    "$vmmu" sweep "$out/spec.json" --jobs 2 --out "$1" --no-progress &
    pid=$!
    for _ in $(seq 100); do
        [ "$(runs "$1" | wc -l)" -ge 2 ] && break
        sleep 0.1
    done
    sleep 2
}
statuses() {
    python3 -c 'import json, sys
print(" ".join(sorted(json.load(open(p)).get("status", "none") if __import__("os").path.exists(p)
                      else "none" for p in sys.argv[1:])))' "$@"
}

start_sweep "$out/sw"
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
left=$(runs "$out/sw")
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
echo "SIGTERM: runs stopped, results merged, exit 143"

start_sweep "$out/killed"
kill -KILL "$pid"
wait "$pid" || true
for _ in $(seq 100); do
    [ -z "$(runs "$out/killed")" ] && break
    sleep 0.1
done
left=$(runs "$out/killed")
if [ -n "$left" ]; then
    echo "runs outlived a killed sweep: $left" >&2
    kill -KILL $(echo "$left" | sed 's|/proc/\([0-9]*\)/cmdline|\1|') 2>/dev/null || true
    exit 1
fi
got=$(statuses "$out"/killed/runs/*.json)
if [ "$got" != "incomplete incomplete" ]; then
    echo "after SIGKILL to the sweep: runs wrote '$got'" >&2
    exit 1
fi
echo "SIGKILL: the runs stopped on their own and wrote their JSON"
