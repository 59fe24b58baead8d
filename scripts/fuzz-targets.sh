#!/usr/bin/env bash
# Lists the fuzz targets of the module as package:FuzzName pairs, so that
# `make fuzz` runs every one of them without a hand-kept list.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -rl --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]+\(' . 2>/dev/null | sort | while read -r f; do
  dir=$(dirname "$f")
  grep -oE '^func (Fuzz[A-Za-z0-9_]+)\(' "$f" | sed -E 's/^func (Fuzz[A-Za-z0-9_]+)\(/\1/' | while read -r name; do
    echo "$dir:$name"
  done
done
