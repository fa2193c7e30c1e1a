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
# Usage: scripts/check-license.sh [--fix] [ROOT]
#   prints each file without it and exits 1 if any; --fix adds the line to
#   each instead (after a #! line, in the file's comment syntax), e.g. to
#   the new files of a branch merged from before the licence.
set -eu
fix=false
if [ "${1:-}" = --fix ]; then
    fix=true
    shift
fi
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root"

# The line in f's comment syntax.
spdx_line() {
    case $1 in
    *.[ch] | *.css) echo '/* SPDX-License-Identifier: MIT */' ;;
    *.js | *.mjs) echo '// SPDX-License-Identifier: MIT' ;;
    *.lua) echo '-- SPDX-License-Identifier: MIT' ;;
    *) echo '# SPDX-License-Identifier: MIT' ;;
    esac
}

# Inserts the line as f's first line, or its second after a #! line.
add_line() {
    tmp=$1.spdx.$$
    if head -1 "$1" | grep -q '^#!'; then
        { head -1 "$1"; spdx_line "$1"; tail -n +2 "$1"; } >"$tmp"
    else
        { spdx_line "$1"; cat "$1"; } >"$tmp"
    fi
    chmod --reference="$1" "$tmp"
    mv "$tmp" "$1"
}
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
        if $fix; then
            add_line "$f"
            echo "check-license: ${f#./}: added the licence line"
            continue
        fi
        echo "check-license: ${f#./}: no 'SPDX-License-Identifier: MIT' in its first 3 lines"
        missing=$((missing + 1))
    fi
done
if [ "$missing" -gt 0 ]; then
    echo "check-license: $missing of $n source files lack the licence line (see LICENSE;" \
        "scripts/check-license.sh --fix adds it)" >&2
    exit 1
fi
echo "check-license: $n source files carry SPDX-License-Identifier: MIT"
