#!/usr/bin/env bash
# mutation.sh runs gremlins (mutation testing) over Vigil's packages and
# prints one table. Each package is mutated and judged by its own tests
# only, one package after another: a mutant of internal/check that only
# the store's integration tests would notice counts as LIVED here, which
# is the point — the domain's rules should be pinned down where they live.
#
# Usage:
#   hack/mutation.sh [--min-efficacy N] [package...]
# Packages are directories under internal/ (default: check scheduler worker
# broadcast probe). With --min-efficacy the run fails when any package's
# efficacy — killed / (killed + lived), timed-out mutants excluded as
# gremlins does — is below N percent; that is the CI gate
# (`make mutation-gate`).
#
# Environment:
#   MUTATION_WORKERS   gremlins --workers (default 1: the machine is shared)
#   MUTATION_TIMEOUT_COEFFICIENT
#                      gremlins --timeout-coefficient (default 10, see below)
#   MUTATION_OUT       directory for each package's JSON report and log
#                      (default: a fresh temp dir, printed at the end)
#
# gremlins itself is built from the Go module proxy into the per-machine
# tool cache by hack/envtest/install.sh, like controller-gen and helm.
set -euo pipefail
cd "$(dirname "$0")/.."

min_efficacy=""
if [ "${1:-}" = "--min-efficacy" ]; then
	min_efficacy="${2:?--min-efficacy needs a percentage}"
	shift 2
fi
case "${1:-}" in
-h | --help)
	sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'
	exit 0
	;;
esac
packages=("$@")
if [ ${#packages[@]} -eq 0 ]; then
	packages=(check scheduler worker broadcast probe)
fi

hack/envtest/install.sh gremlins >/dev/null
GREMLINS="$(hack/envtest/install.sh --print-bin)/gremlins"

workers="${MUTATION_WORKERS:-1}"
# gremlins gives each mutant coverage-run-time x coefficient (default 3)
# before it calls it TIMED OUT. The coverage run is one `go test`, compile
# included; on a loaded 2-core machine a mutant's compile alone can take
# three times that, and a mutant timed out that way is neither killed nor
# lived. A larger coefficient costs nothing for mutants the tests kill or
# let live; the tests' own deadlines (seconds, not minutes) are what stop
# a mutant that makes a loop spin.
coefficient="${MUTATION_TIMEOUT_COEFFICIENT:-10}"
out="${MUTATION_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/vigil-mutation.XXXXXX")}"
mkdir -p "$out"
# A cached `go test` would make the coverage run, and so every mutant's
# time budget, look instantaneous.
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-count=1"

rows=()
failed=()
for pkg in "${packages[@]}"; do
	dir="internal/$pkg"
	[ -d "$dir" ] || {
		echo "mutation: no package $dir" >&2
		exit 2
	}
	json="$out/$pkg.json"
	log="$out/$pkg.log"
	echo "mutation: $dir (log: $log)" >&2
	start=$SECONDS
	if ! "$GREMLINS" unleash --workers "$workers" --timeout-coefficient "$coefficient" \
		--output "$json" "./$dir" >"$log" 2>&1; then
		cat "$log" >&2
		echo "mutation: gremlins failed on $dir" >&2
		exit 1
	fi
	# The JSON has killed, lived and not-covered totals; timed-out mutants
	# are only in the per-mutant statuses.
	read -r killed lived notcovered timedout < <(jq -r '[
		.mutants_killed, .mutants_lived, .mutants_not_covered,
		([.files[].mutations[] | select(.status == "TIMED OUT")] | length)
	] | @tsv' "$json")
	efficacy="$(awk -v k="$killed" -v l="$lived" 'BEGIN { if (k + l == 0) print "0.0"; else printf "%.1f", 100 * k / (k + l) }')"
	rows+=("$(printf '%-20s | %6s | %5s | %11s | %9s | %7s%% | %4ss' "$dir" "$killed" "$lived" "$notcovered" "$timedout" "$efficacy" "$((SECONDS - start))")")
	jq -r --arg dir "$dir" '.files[] | .file_name as $f | .mutations[]
		| select(.status == "LIVED" or .status == "TIMED OUT")
		| "  \($dir)/\($f):\(.line):\(.column) \(.status) \(.type)"' "$json" | sort -t: -k1,1 -k2,2n -k3,3n >&2
	if [ -n "$min_efficacy" ] && awk -v e="$efficacy" -v m="$min_efficacy" 'BEGIN { exit !(e < m) }'; then
		failed+=("$dir ($efficacy% < $min_efficacy%)")
	fi
done

echo
printf '%-20s | %6s | %5s | %11s | %9s | %8s | %5s\n' package killed lived "not covered" "timed out" efficacy time
printf '%s\n' "---------------------+--------+-------+-------------+-----------+----------+------"
printf '%s\n' "${rows[@]}"
echo "reports: $out"
if [ ${#failed[@]} -gt 0 ]; then
	printf 'mutation: efficacy below the gate: %s\n' "${failed[@]}" >&2
	exit 1
fi
