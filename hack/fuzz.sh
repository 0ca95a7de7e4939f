#!/usr/bin/env bash
# Runs every fuzz target of the project for a short while (FUZZTIME, 10s by
# default). New crashers are written by go test under the package's
# testdata/fuzz/<Target>/ and replayed by every plain `go test` from then on.
set -euo pipefail
fuzztime=${FUZZTIME:-10s}
cd "$(dirname "$0")/.."
grep -rl --include='*_test.go' '^func Fuzz' . | while read -r file; do
  pkg="./$(dirname "${file#./}")"
  for target in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$file" | sed 's/^func //'); do
    echo "fuzzing $pkg $target for $fuzztime"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg"
  done
done
