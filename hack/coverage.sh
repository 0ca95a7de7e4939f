#!/usr/bin/env bash
# Prints the total statement coverage of a Go cover profile, leaving out
# generated code (controller-gen's deepcopy) and the developer tools under
# hack/ (the load harness is measured by running it), and fails below a minimum.
# usage: hack/coverage.sh coverage.out 80
set -euo pipefail
profile=${1:?profile}
min=${2:-80}
filtered=$(mktemp)
trap 'rm -f "$filtered"' EXIT
grep -v -e 'zz_generated' -e '/hack/' "$profile" > "$filtered"
total=$(go tool cover -func="$filtered" | awk '/^total:/ {gsub("%","",$3); print $3}')
echo "total statement coverage (generated code excluded): ${total}% (minimum ${min}%)"
awk -v t="$total" -v m="$min" 'BEGIN { exit !(t+0 >= m+0) }' || {
  echo "coverage ${total}% is below the required ${min}%" >&2
  exit 1
}
