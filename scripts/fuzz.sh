#!/usr/bin/env bash
# Run every Fuzz target in the module briefly (go test allows one -fuzz
# target per run, so this loops). Usage: scripts/fuzz.sh [DURATION]
set -eu
cd "$(dirname "$0")/.."
fuzztime=${1:-10s}
for dir in $(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do
  for target in $(grep -h '^func Fuzz' "$dir"/*_test.go | sed 's/^func \(Fuzz[A-Za-z0-9_]*\).*/\1/'); do
    echo "fuzz: $dir $target ($fuzztime)"
    go test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" "$dir"
  done
done
