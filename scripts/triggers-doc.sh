#!/bin/sh
# SPDX-License-Identifier: MIT
# Writes the generated part of docs/triggers.md (between its BEGIN and END
# marker lines) from the trigger catalog compiled into an airhook binary:
#   sh scripts/triggers-doc.sh BINARY [FILE]
# `make triggers-doc` runs it; tests/unit/test_triggers.c fails while the
# file says anything else than the catalog generates.
set -eu
bin=$1
file=${2:-docs/triggers.md}
gen=$(mktemp)
out=$(mktemp)
trap 'rm -f "$gen" "$out"' EXIT
"$bin" triggers doc >"$gen"
if ! grep -q '^<!-- BEGIN generated from data/triggers.json' "$file"; then
    # No generated part yet: append one.
    cat "$file" "$gen" >"$out"
else
    awk -v gen="$gen" '
        /^<!-- BEGIN generated from data\/triggers.json/ {
            while ((getline line < gen) > 0) print line
            skip = 1
            next
        }
        /^<!-- END generated from data\/triggers.json/ { skip = 0; next }
        !skip { print }
    ' "$file" >"$out"
fi
cat "$out" >"$file"
echo "triggers-doc: wrote the generated part of $file"
