#!/usr/bin/env bash
# Runs the tests of our copy of Badger (third_party/badger, see its OUTPOST.md): upstream's suites of the
# packages the copy keeps (the root package, skl, table, y, trie) and ours (TestOutpost*).
# The subpackages and our tests run with the race detector. Upstream's root-package suite takes about 5 minutes
# without it on a 2-core machine, far longer with it, so it runs without; it is what checks the copy's changes
# to the root package (Txn.Get after a flush, StreamWriter, ...) against upstream's expectations. Some of its
# tests time background work with sleeps, so a test that fails is run once more on its own; one that fails twice
# fails the run.
set -uo pipefail
cd "$(dirname "$0")/../third_party/badger" # BADGER in the Makefile
go=${GO:-go}
# Some of upstream's table tests write .sst files straight into os.TempDir() and leave them there: give the
# suites a temporary directory of their own and remove it at the end.
tmp=$(mktemp -d /tmp/outpost-badger-test-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export TMPDIR=$tmp
$go test -race ./skl ./table ./y ./trie || exit 1
$go test -race -run TestOutpost . || exit 1
log=$tmp/suite.log
$go test -count=1 -timeout 20m . 2>&1 | tee "$log" | grep -E '^(--- FAIL|FAIL|ok|panic)'
if grep -q '^ok' "$log"; then
	exit 0
fi
failed=$(grep -oE '^--- FAIL: [A-Za-z0-9_]+' "$log" | awk '{print $3}' | sort -u | paste -sd'|')
if [ -z "$failed" ]; then
	echo "test-badger: upstream's suite failed without a failing test to retry (a build error, a panic or a timeout):"
	tail -40 "$log"
	exit 1
fi
echo "test-badger: running again on their own: $failed"
$go test -count=1 -timeout 10m -run "^($failed)\$" .
