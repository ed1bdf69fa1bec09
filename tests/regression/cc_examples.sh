#!/usr/bin/env bash
# Each example under workloads/examples/, built with `vmmu cc` from a vmmu installed into a
# fresh prefix (the documented command, run from another directory), runs under every scheme
# with the oracle on; what it prints must equal, byte for byte, what the same source prints when
# built by the host's compiler against the host's libc and run natively. Two programs side by
# side print both programs' lines; --param reaches the program as an argument.
# Usage: cc_examples.sh CMAKE BUILD EXAMPLES_DIR
set -euo pipefail
cmake=$1 build=$(cd "$2" && pwd) examples=$(cd "$3" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vmmu-cc.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "cc_examples: $*" >&2; exit 1; }
"$cmake" --install "$build" --prefix "$tmp/prefix" >/dev/null
vmmu=$tmp/prefix/bin/vmmu
for f in bin/vmmu-cc share/vmmu/guest/sdk/lib/libvmmu.a share/vmmu/guest/sdk/include/stdio.h \
         share/vmmu/guest/sdk/program.ld share/vmmu/guest/sdk/cflags; do
    [ -f "$tmp/prefix/$f" ] || fail "$f is not installed"
done
cd "$tmp"
schemes=native,shadow,slat,agile,ideal

# example and the arguments it runs with here (small: all five schemes, oracle on)
check() {
    local name=$1 args=$2
    "$vmmu" cc "$examples/$name.c" -O2 -Wall -Wextra -Werror -o "$name.elf"
    cc -O2 -Wall -Wextra -Werror -o "$name.host" "$examples/$name.c" -lm
    if [ -f "$examples/$name.expected" ]; then
        ./"$name.host" | cmp - "$examples/$name.expected" ||
            fail "$name: $name.expected is not what it prints with its default arguments"
    fi
    # shellcheck disable=SC2086
    ./"$name.host" $args >"$name.expected"
    "$vmmu" run --program "$name.elf" --args "$args" --backends "$schemes" --oracle on --quiet \
        --guest-output "$name.out" --json "$name.json" >"$name.table" ||
        fail "$name: vmmu run exited $? ($(cat "$name.table"))"
    cmp "$name.expected" "$name.out" ||
        fail "$name: the guest printed something else than the host: $(diff "$name.expected" "$name.out")"
    grep -q '"status": "ok"' "$name.json" || fail "$name: run status is not ok"
    echo "$name ($args): guest output equals the host's under $schemes"
}
check chase "footprint_kib=256 stride=4096 steps=20000"
check chase "footprint_kib=64 stride=64 steps=4096 seed=3"
check hashtable "n=5000 probes=10000"
check matmul "n=40 block=16"
check matmul "n=33"
for extra in "$examples"/*.c; do
    name=$(basename "$extra" .c)
    case $name in chase | hashtable | matmul) ;; *) check "$name" "" ;; esac
done

# The compiler's name: vmmu-cc, as a build system's CC.
"$tmp/prefix/bin/vmmu-cc" -O2 -c "$examples/chase.c" -o chase2.o
"$tmp/prefix/bin/vmmu-cc" chase2.o -o chase2.elf
"$vmmu" run --program chase2.elf --param steps=500 --backends native --quiet \
    --guest-output chase2.out >/dev/null
./chase.host steps=500 >chase2.expected
cmp chase2.expected chase2.out || fail "--param did not reach the program as an argument"

# Two programs side by side: every line of each, in some interleaving.
"$vmmu" run --program chase.elf --args "steps=3000" --program hashtable.elf --args "n=2000" \
    --backends native,slat --quiet --guest-output both.out >both.table ||
    fail "two programs side by side: exit $?"
grep -q "programs chase steps=3000 & hashtable n=2000: exited 0" both.table ||
    fail "two programs: the table does not say both ran: $(head -1 both.table)"
{ ./chase.host steps=3000; ./hashtable.host n=2000; } | sort >both.expected
sort both.out | cmp - both.expected || fail "two programs: lines differ from the host's"
# Two processes computing in double with a timer tick every 5000 instructions: many switches in
# the middle of their arithmetic, and each still prints the host's digits.
cp matmul.elf matmul2.elf
"$vmmu" run --program matmul.elf --args "n=24 block=8" --program matmul2.elf --args "n=30" \
    --timer-period 5000 --backends native,slat --quiet --guest-output fp.out --json fp.json \
    >fp.table || fail "two matmuls side by side: exit $?"
switches=$(grep -o '"kernel.context_switches": [0-9]*' fp.json | grep -o '[0-9]*$')
[ "${switches:-0}" -ge 20 ] || fail "two matmuls switched only ${switches:-0} times"
{ ./matmul.host n=24 block=8; ./matmul.host n=30; } | sort >fp.expected
sort fp.out | cmp - fp.expected || fail "two matmuls: lines differ from the host's: $(diff <(sort fp.out) fp.expected)"
echo "cc_examples: all examples match the host"
