#!/usr/bin/env bash
# Prints the lines of a `go test` log that say what failed. CI keeps only the tail of its output, so
# .ci/run prints this last, and the most telling lines come last here: goroutines of a hung child
# node ("child|" lines, from cmd/outpost's TestMain), then the tests' own messages, then panics,
# failed tests and the tests that were running when a timeout fired.
log=${1:?usage: test-digest.sh LOG}
echo "==== test digest of $log"
grep -E '^child\|' "$log" | tail -n 60
grep -E '^[ \t]+[a-z_0-9]+_test\.go:[0-9]+: ' "$log" | grep -vE ' kill [0-9]+: ready in ' | tail -n 20
awk '
	/^(panic:|--- FAIL|FAIL|fatal error:)|DATA RACE/ { print; next }
	/^[ \t]*running tests:/ { print; running = 1; next }
	running && /^[ \t]+Test|^[ \t]+Fuzz/ { print; next }
	{ running = 0 }
' "$log" | tail -n 40
