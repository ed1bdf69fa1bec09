#!/bin/bash
# `vmmu demo walk` and `vmmu demo exits` as a user runs them: the moment and page size of the
# walk, bad addresses, the scheme, reason and start of the exit list, the glossary, 100 columns.
set -u
vmmu=$1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
fits() { awk -v f="$1" 'length($0) > 100 { print f ": " length($0) " columns: " $0; bad = 1 }
                        END { exit bad }' "$1" || fail "$1 has lines over 100 columns"; }

"$vmmu" demo walk > "$out/hello.txt" || fail "demo walk (hello)"
"$vmmu" demo walk --workload gups --guest-pages 2m --ept-pages 2m > "$out/gups.txt" \
    || fail "demo walk (gups, 2m)"
cmp -s "$out/hello.txt" "$out/gups.txt" && fail "gups with 2M pages walks the same as hello"
grep -q "region 'updates'" "$out/gups.txt" || fail "gups not walked inside its region"
grep -q "PS -> 2M page gPA" "$out/gups.txt" || fail "no 2M guest page in the gups walk"
grep -q "EPT pages 2M" "$out/gups.txt" || fail "no 2M EPT pages"
grep -q -- "-> data gPA 0x[0-9a-f]* -> hPA 0x" "$out/gups.txt" || fail "slat's final hPA missing"
fits "$out/gups.txt"
fits "$out/hello.txt"
"$vmmu" demo walk --at-instruction 450000 --backends slat > "$out/at.txt" \
    || fail "--at-instruction"
grep -q "current at instruction" "$out/at.txt" || fail "--at-instruction moment not named"

"$vmmu" demo walk --va 0x800000000000 > /dev/null 2> "$out/err"
[ $? -eq 2 ] || fail "non-canonical --va not exit 2"
grep -q "not a canonical address" "$out/err" || fail "non-canonical message"
"$vmmu" demo walk --va 0x1234567000 > "$out/stdout" 2> "$out/err"
[ $? -eq 2 ] || fail "unmapped --va not exit 2"
grep -q "page fault" "$out/err" || fail "unmapped --va not reported as a page fault"
[ -s "$out/stdout" ] && fail "unmapped --va printed a walk"

"$vmmu" demo exits --backends slat --limit 10 > "$out/slat.txt" || fail "demo exits slat"
grep -q "VM exits under slat" "$out/slat.txt" || fail "slat exits not shown"
grep -q "ept_violation" "$out/slat.txt" || fail "no EPT violation among slat's exits"
grep -q "pf_hidden\|pt_write" "$out/slat.txt" && fail "slat's list holds shadow exits"
fits "$out/slat.txt"
"$vmmu" demo exits --reason pt_write --from roi --limit 10 --explain > "$out/pt.txt" \
    || fail "demo exits --reason pt_write --from roi"
[ "$(grep -c '^pf_hidden\|^cr3_write' "$out/pt.txt")" -eq 0 ] || fail "--reason did not filter"
grep -q "^pt_write .* gPA 0x" "$out/pt.txt" || fail "pt_write address not labelled gPA"
grep -q "from region 'forks' on" "$out/pt.txt" || fail "--from roi not applied"
for term in fill unsync resync pf_hidden PWC NTLB; do
    grep -q "^  $term " "$out/pt.txt" || fail "glossary lacks $term"
done
fits "$out/pt.txt"
"$vmmu" demo exits --reason bogus > /dev/null 2> "$out/err"
[ $? -eq 2 ] || fail "unknown --reason not exit 2"
grep -q "valid: cr3_write" "$out/err" || fail "unknown --reason does not list the reasons"

"$vmmu" quiz --seed 4 --count 6 --answers > "$out/q1.txt" || fail "quiz"
"$vmmu" quiz --seed 4 --count 6 --answers > "$out/q2.txt" || fail "quiz (again)"
cmp -s "$out/q1.txt" "$out/q2.txt" || fail "the same seed gave another quiz"
[ "$(grep -c '^   answer: ' "$out/q1.txt")" -eq 6 ] || fail "quiz --answers lacks answers"
"$vmmu" quiz --seed 4 --count 6 | grep -q "answer:" && fail "quiz shows answers unasked"
fits "$out/q1.txt"
"$vmmu" quiz --topic caches > /dev/null 2> "$out/err"
[ $? -eq 2 ] || fail "unknown --topic not exit 2"
grep -q "valid: walk, exits, tlb, all" "$out/err" || fail "unknown --topic does not list the topics"
for t in exits tlb; do
    "$vmmu" quiz --topic $t --seed 9 --count 3 --answers > "$out/q_$t.txt" || fail "quiz --topic $t"
    [ "$(grep -c '^   answer: ' "$out/q_$t.txt")" -eq 3 ] || fail "quiz --topic $t lacks answers"
    grep -q "why, step by step" "$out/q_$t.txt" || fail "quiz --topic $t lacks worked steps"
    fits "$out/q_$t.txt"
done

# The pages: written whole, or not at all when the folder is missing or the input is bad.
"$vmmu" quiz --seed 4 --count 3 --html "$out/quiz.html" 2> /dev/null || fail "quiz --html"
grep -q "default-src 'none'" "$out/quiz.html" || fail "quiz page without its CSP"
[ "$(grep -c '<div class="answer" hidden>' "$out/quiz.html")" -eq 3 ] \
    || fail "quiz page answers not hidden"
"$vmmu" quiz --html "$out/no/such/q.html" > /dev/null 2> "$out/err"
[ $? -eq 2 ] || fail "quiz --html into a missing folder not exit 2"
grep -q "does not exist" "$out/err" || fail "missing folder not named"
"$vmmu" demo exits --html "$out/no/such/e.html" > /dev/null 2> "$out/err"
[ $? -eq 2 ] || fail "demo exits --html into a missing folder not exit 2"
"$vmmu" demo exits --html "$out/e.html" --backends native > /dev/null 2> "$out/err"
[ $? -eq 2 ] || fail "demo exits --html --backends native not exit 2"
grep -q "shadow,slat" "$out/err" || fail "--backends native: message does not say what to give"
[ -e "$out/e.html" ] && fail "a refused demo exits --html wrote a page"
"$vmmu" demo exits --html "$out/e.html" --limit 30 2> "$out/err" || fail "demo exits --html"
grep -q "30 shadow and [0-9]* slat exits in the window" "$out/err" || fail "window not reported"
grep -q '"schema":"vmmu.demo.exits_page/1"' "$out/e.html" || fail "exits page without its data"
echo "demo CLI: ok"
