#!/usr/bin/env bash
# Measures the node's memory under sustained writes, the figures in README "Footprint" (afternoon of
# 2026-12-03) and in third_party/ristretto/OUTPOST.md: RUNS firmware-sim bench runs (10 publishers x 10k QoS 1
# messages of 64 bytes, pipelined, one subscriber on #) back to back against one node on the default pi profile,
# batch durability. After each run it prints the run's received msg/s, the Go heap in use after a forced GC
# (/debug/pprof/heap?gc=1, then /metrics), VmRSS and the peak so far (VmHWM).
#   scripts/sustained.sh [RUNS]      (default 8; about 15 s per run)
# Set OUTPOST_BIN to measure another outpost binary (default: bin/outpost, built by make build).
# Set SAMPLE=1 to also sample RssAnon and RssFile every 10 ms and print both at the highest total.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-8}

make -s build
bin=${OUTPOST_BIN:-bin/outpost}
work=$(mktemp -d /tmp/outpost-sustained.XXXXXX)
. scripts/ports.sh
mqtt_port=$(free_port)
mqtt=127.0.0.1:$mqtt_port
api=127.0.0.1:$(free_port "$mqtt_port")
printf 'mqtt:\n  publish_rate: 0\n' >"$work/outpost.yaml"
"$bin" serve --config "$work/outpost.yaml" --data-dir "$work/data" --mqtt "$mqtt" --http "$api" \
	--durability batch >"$work/node.log" 2>&1 &
node=$!
sampler=
cleanup() {
	[ -n "$sampler" ] && kill "$sampler" 2>/dev/null
	kill "$node" 2>/dev/null && wait "$node" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 50); do curl -sf "http://$api/readyz" >/dev/null && break; sleep 0.1; done
curl -sf "http://$api/readyz" >/dev/null || { echo "node did not become ready:" >&2; tail -20 "$work/node.log" >&2; exit 1; }

kib() { awk -v k="$1" '$1 == k":" {printf "%.1f", $2 / 1024}' "/proc/$node/status"; }
if [ "${SAMPLE:-0}" = 1 ]; then
	(
		best=0
		while kill -0 "$node" 2>/dev/null; do
			read -r a f < <(awk '/^RssAnon/ {a = $2} /^RssFile/ {f = $2} END {print a + 0, f + 0}' "/proc/$node/status" 2>/dev/null || echo "0 0")
			if ((a + f > best)); then
				best=$((a + f))
				echo "$best $a $f" >"$work/peak"
			fi
			sleep 0.01
		done
	) &
	sampler=$!
fi

printf '%-5s %10s %14s %10s %10s\n' run "recv/s" "heap after GC" "RSS MiB" "peak MiB"
for i in $(seq "$runs"); do
	out=$(bin/firmware-sim bench --json --broker "$mqtt" --publishers 10 --messages 10000 --payload 64 \
		--subscribers 1 --filter '#' --qos 1 --mode pipelined --drain 5s)
	rate=$(sed -E 's/.*"recv_rate":([0-9.]+).*/\1/' <<<"$out")
	curl -sf -o /dev/null "http://$api/debug/pprof/heap?gc=1"
	heap=$(curl -sf "http://$api/metrics" | awk '/^go_memstats_heap_inuse_bytes/ {printf "%.1f MiB", $2 / 1048576}')
	printf '%-5s %10.0f %14s %10s %10s\n' "$i" "$rate" "$heap" "$(kib VmRSS)" "$(kib VmHWM)"
done
if [ -n "$sampler" ] && [ -s "$work/peak" ]; then
	read -r t a f <"$work/peak"
	awk -v t="$t" -v a="$a" -v f="$f" 'BEGIN {printf "highest RSS sampled: %.1f MiB (anonymous %.1f, mapped files %.1f)\n", t / 1024, a / 1024, f / 1024}'
fi
