#!/usr/bin/env bash
# Runs every fuzz target for the given time each (default 30s): a duration such as 30s, or a count
# of executions such as 20000x (CI uses a count: a deadline can end a run mid-input and the fuzzer
# then reports "context deadline exceeded" for a target that found nothing). Every target runs;
# the exit status is 1 when any of them failed.
set -uo pipefail
t=${1:-30s}
cd "$(dirname "$0")/.."
failed=()
for pkg in $(go list ./...); do
	for f in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
		echo "== $pkg $f ($t)"
		go test -run '^$' -fuzz "^$f\$" -fuzztime "$t" "$pkg" || failed+=("$pkg $f")
	done
done
if [ ${#failed[@]} -gt 0 ]; then
	printf 'fuzz: FAILED %s\n' "${failed[@]}"
	exit 1
fi
echo "fuzz: every target ran ($t each)"
