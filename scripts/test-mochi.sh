#!/usr/bin/env bash
# Runs the tests of our copy of mochi-mqtt (third_party/mochi-mqtt-server, see its OUTPOST.md) with the
# race detector: upstream's suite and ours. Several of upstream's tests race their own goroutines with
# sleeps of 100 µs to 50 ms (TestPublishToClientServerDowngradeQos, TestEstablishConnectionInheritExisting*)
# and fail now and then on a loaded machine, v2.7.9 as released too. So a test that fails is run once
# more on its own; one that fails twice fails the run. Packages run one at a time: the listeners' and
# the server's tests bind the same fixed ports.
set -uo pipefail
cd "$(dirname "$0")/../third_party/mochi-mqtt-server" # MOCHI in the Makefile
go=${GO:-go}
log=$(mktemp /tmp/outpost-mochi-test-XXXXXX.log)
trap 'rm -f "$log"' EXIT
if $go test -race -p 1 -timeout 5m ./... 2>&1 | tee "$log"; then
	exit 0
fi
failed=$(grep -oE '^--- FAIL: [A-Za-z0-9_]+' "$log" | awk '{print $3}' | sort -u | paste -sd'|')
if [ -z "$failed" ]; then
	echo "test-mochi: the run failed without a failing test to retry (a build error or a timeout)"
	exit 1
fi
echo "test-mochi: running again on their own: $failed"
$go test -race -p 1 -count=1 -timeout 5m -run "^($failed)\$" ./...
