#!/bin/sh
# SPDX-License-Identifier: MIT
# check-license.sh: every source file of airhook says its licence, MIT, in an
# SPDX line among its first three lines (after a #! line, or as the first
# comment), so a file copied out of the tree still carries it.
#
# Source files: C and headers, shell, Python, JavaScript, CSS, Lua, CMake
# files, the Makefiles, the .pc template and deploy/'s configuration.  Not:
# Markdown, JSON (no comments), fuzz corpora, build trees, node_modules.
#
# Usage: scripts/check-license.sh [ROOT]    prints each file without it; exit 1 if any
set -eu
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root"
missing=0
n=0
files=$(find . \( -path ./.git -o -path './build*' -o -path '*/node_modules' -o -path ./tests/fuzz/corpus \
    -o -path ./bench/out -o -path '*/__pycache__' \) -prune -o -type f \( -name '*.[ch]' -o \
    -name '*.sh' -o -name '*.py' -o -name '*.mjs' -o -name '*.js' -o -name '*.css' -o -name '*.lua' \
    -o -name CMakeLists.txt -o -name '*.cmake' -o -name Makefile -o -name '*.in' -o -name '*.service' \
    -o -path './deploy/*.conf' \) -print | LC_ALL=C sort)
for f in $files; do
    n=$((n + 1))
    if ! head -3 "$f" | grep -q 'SPDX-License-Identifier: MIT'; then
        echo "check-license: ${f#./}: no 'SPDX-License-Identifier: MIT' in its first 3 lines"
        missing=$((missing + 1))
    fi
done
if [ "$missing" -gt 0 ]; then
    echo "check-license: $missing of $n source files lack the licence line (see LICENSE)" >&2
    exit 1
fi
echo "check-license: $n source files carry SPDX-License-Identifier: MIT"
