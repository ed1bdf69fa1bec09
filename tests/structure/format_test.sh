#!/usr/bin/env bash
# Every C++ file of engine/ and tests/ is laid out as .clang-format says (docs/STYLE.md).
# Fix with: clang-format -i FILE... (Debian package clang-format).
set -uo pipefail
root=${1:?usage: format_test.sh SOURCE_ROOT}
cd "$root" || exit 1
command -v clang-format >/dev/null || { echo "clang-format is not installed (apt-get install clang-format)"; exit 1; }
mapfile -t files < <(find engine tests -name '*.cpp' -o -name '*.h' | grep -v '^tests/fuzz/corpus/' | sort)
[ ${#files[@]} -gt 50 ] || { echo "found only ${#files[@]} C++ files under $root: wrong root?"; exit 1; }
bad=$(clang-format --dry-run -Werror "${files[@]}" 2>&1 | grep -E '^[^:]+:[0-9]+:[0-9]+: error' | cut -d: -f1 | sort -u)
if [ -n "$bad" ]; then
    echo "not formatted (run clang-format -i on them):"
    echo "$bad"
    exit 1
fi
echo "format: ${#files[@]} files formatted as .clang-format says"
