#!/usr/bin/env bash
# What `vmmu cc` refuses at build time (exit 2, every problem listed by name with its fix) and
# what `vmmu run --program` refuses at run time (exit 2 naming the rule and `vmmu cc`); and, as
# the control, a program whose function pointers in data and text must follow its text when the
# loader moves it to a free slot.
# Usage: cc_bad_input.sh VMMU
set -uo pipefail
vmmu=$1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vmmu-ccbad.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
fail() { echo "cc_bad_input: $*" >&2; exit 1; }

# expect CODE TEXT... -- COMMAND...: the command exits CODE and its stderr holds every TEXT.
expect() {
    local code=$1 texts=()
    shift
    while [ "$1" != "--" ]; do texts+=("$1"); shift; done
    shift
    "$@" >out.txt 2>err.txt
    local got=$?
    [ "$got" = "$code" ] || fail "'$*' exited $got, expected $code: $(cat err.txt out.txt)"
    for t in "${texts[@]}"; do
        grep -qF -- "$t" err.txt || fail "'$*': stderr lacks '$t': $(cat err.txt)"
    done
}

cat >good.c <<'C'
#include <stdio.h>
static int twice(int x) { return 2 * x; }
static int square(int x) { return x * x; }
static int (*const table[])(int) = {twice, square}; /* text addresses in .rodata */
int (*chosen)(int) = square;                         /* ... in .data */
int main(int argc, char **argv) {
    int (*local)(int) = argc > 5 ? square : twice;    /* ... in the text (movabs) */
    printf("%d %d %d %d\n", table[0](20), table[1](7), chosen(9), local(4));
    return 0;
}
C
"$vmmu" cc good.c -o good.elf || fail "a good program did not build"
"$vmmu" run --program good.elf --backends native --quiet --guest-output good.out >/dev/null ||
    fail "the good program did not run"
[ "$(cat good.out)" = "40 49 81 8" ] || fail "function pointers after the move: $(cat good.out)"

cat >undef.c <<'C'
#include <stdio.h>
extern void *fopen(const char *, const char *);
extern int pthread_create(void *, void *, void *(*)(void *), void *);
int helper_never_written(int);
int main(void) {
    fopen("x", "r");
    pthread_create(0, 0, 0, 0);
    return helper_never_written(1);
}
C
expect 2 "3 functions the program calls are not in the guest libc" "fopen" "undef.c:6" \
    "files: the guest has no file system" "pthread_create" "threads:" "helper_never_written" \
    "docs/PROGRAMS.md" -- "$vmmu" cc undef.c -o undef.elf
[ ! -e undef.elf ] || fail "a failed build left undef.elf"

printf '_Thread_local int counter;\nint main(void) { return counter++; }\n' >tls.c
expect 2 "thread-local storage (counter)" "drop _Thread_local" -- "$vmmu" cc tls.c -o tls.elf

printf 'int x;\n__attribute__((constructor)) static void set(void) { x = 1; }\nint main(void) { return x; }\n' >ctor.c
expect 2 "constructor or destructor" "call the function from main" -- "$vmmu" cc ctor.c -o ctor.elf

# Writable data placed among the code: the text segment would be writable.
printf '.section .counter,"awx",@progbits\n.globl counter\ncounter: .quad 0\n' >place.S
printf 'extern long counter;\nint main(void) { return (int)counter++; }\n' >place.c
expect 2 "breaks a rule of the guest's loader" "text segment at" "is writable" -- \
    "$vmmu" cc place.c place.S -o place.elf

printf '#include <pthread.h>\nint main(void) { return 0; }\n' >hdr.c
expect 2 "no <pthread.h>" -- "$vmmu" cc hdr.c -o hdr.elf

expect 2 "-shared: the guest has no dynamic loader" "-pthread: the guest libc has no POSIX threads" \
    -- "$vmmu" cc good.c -shared -pthread -o x.elf
expect 2 "no output: give -o prog.elf" -- "$vmmu" cc good.c
expect 2 "C++ is not supported" -- "$vmmu" cc good.cpp -o x.elf
expect 2 "no such file" -- "$vmmu" cc missing.c -o x.elf

# Run time: programs built by the host's compiler break the guest's rules.
printf '#include <stdio.h>\nint main(void) { puts("hi"); return 0; }\n' >host.c
if cc -no-pie -o host-dyn.elf host.c 2>/dev/null; then
    expect 2 "dynamically linked" "vmmu cc" -- "$vmmu" run --program host-dyn.elf --backends none
fi
if cc -static -o host-static.elf host.c 2>/dev/null; then
    expect 2 "vmmu cc" -- "$vmmu" run --program host-static.elf --backends none
fi
if cc -o host-pie.elf host.c 2>/dev/null; then
    expect 2 "not a static executable" "vmmu cc" -- "$vmmu" run --program host-pie.elf --backends none
fi
# More programs than free text slots (16, less the built-in programs').
many=()
for i in $(seq 1 16); do cp good.elf "p$i.elf"; many+=(--program "p$i.elf"); done
expect 2 "no free text slot" "run fewer programs" -- "$vmmu" run "${many[@]}" --backends none
cp good.elf hello.elf
expect 2 "the name 'hello' is a built-in program's" -- "$vmmu" run --program hello.elf
expect 2 "--args gives a program's arguments: add --program" -- "$vmmu" run --args "a=1"
expect 2 "give one --args per --program" -- \
    "$vmmu" run --program good.elf --args "a=1" --args "b=2"
expect 2 "cannot be an argument" -- "$vmmu" run --program good.elf --args "a & b"
echo "cc_bad_input: every refusal names the problem and the fix"
