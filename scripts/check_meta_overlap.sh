#!/usr/bin/env bash
# The project's rule: no run of 5 or more lines identical to Meta's `sam2` (the test oracle).
# Puts a copy of sam2core/ (as ours/sam2core) next to a copy of the installed oracle's Python
# code (as meta/sam2, without configs/ and csrc/) in a temporary folder, runs `duplicates` on it
# and lists every row that pairs ours/ with meta/. Exit 1 when one of them is an identical run
# (a row not marked `shape`); `shape` rows (alike but renamed) are listed for a reviewer to judge.
# Needs the `duplicates` tool on PATH and .venv with sam2==1.1.0 (scripts/setup.sh --test).
set -euo pipefail
cd "$(dirname "$0")/.."
meta="$(.venv/bin/python -c 'import os, sam2; print(os.path.dirname(sam2.__file__))')"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/ours" "$work/meta"
cp -r sam2core "$work/ours/"
cp -r "$meta" "$work/meta/sam2"
rm -rf "$work/meta/sam2/configs" "$work/meta/sam2/csrc"
find "$work" -name __pycache__ -prune -exec rm -rf {} +
report="$(duplicates --repo "$work" --most 200 --min-lines 5 --seconds 120)"
echo "$report" | head -1
echo "$report" | grep -E '^(left out|incomplete):' || true
pairs="$(echo "$report" | grep -E 'ours/.* ~ meta/|meta/.* ~ ours/' || true)"
identical="$(echo "$pairs" | grep -v ' shape' | grep . || true)"
if [ -n "$pairs" ]; then
    echo "rows pairing sam2core with Meta's sam2:"
    echo "$pairs"
fi
if [ -n "$identical" ]; then
    echo "FAIL: identical runs of 5+ lines shared with Meta's sam2 (rewrite them):"
    echo "$identical"
    exit 1
fi
echo "OK: no identical run of 5+ lines shared with Meta's sam2"
