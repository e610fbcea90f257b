#!/usr/bin/env bash
# Measures the node's footprint, the figures in README "Footprint":
#   - binary sizes (make cross);
#   - idle RSS of `outpost serve` on the default pi profile;
#   - bytes written to disk per byte of payload while 1M QoS 1 records (64-byte payloads) go into the log
#     (/proc/PID/io write_bytes, fsync durability, the default);
#   - RSS with those 1M records as a backlog (a Kafka bridge whose broker is down holds them) and 1,000
#     devices connected (bin/firmware-sim run, configs/fleet-stress.yaml, one message per 10 s each).
# RSS is VmRSS at the time (anon: RssAnon, the heap; file: RssFile, Badger's memory-mapped files, which the
# kernel can reclaim), peak is VmHWM (/proc/PID/status). Takes about 3 minutes.
#   scripts/footprint.sh [RECORDS] [DEVICES]      (defaults 1000000 1000)
# Set MEMORY_LIMIT (bytes) to run the node with node.memory_limit; 0 (default) is the node's default (48 MiB
# with the pi profile), -1 runs without a limit.
# Set GODEBUG=adaptivestackstart=0 to run the node as the .deb's unit and the container image do.
# Set HEAP_PROFILE=FILE to save the node's heap profile (go tool pprof) at the end of the device stage.
set -euo pipefail
cd "$(dirname "$0")/.."
records=${1:-1000000}
devices=${2:-1000}
memlimit=${MEMORY_LIMIT:-0}
publishers=10
payload=64

make -s build
work=$(mktemp -d /tmp/outpost-footprint.XXXXXX)
. scripts/ports.sh
mqtt_port=$(free_port)
mqtt=127.0.0.1:$mqtt_port
api=127.0.0.1:$(free_port "$mqtt_port")
cat >"$work/outpost.yaml" <<EOF
node: {id: footprint, data_dir: $work/data, memory_limit: $memlimit}
mqtt:
  listeners: [{name: local, type: tcp, address: "$mqtt"}]
  max_clients: 20000
http: {address: "$api"}
storage: {durability: fsync, profile: pi}
log: {level: warn, format: json}
bridges:
  - name: cloud
    kind: kafka
    rules: [{filter: "#", topic: telemetry}]
    kafka: {brokers: ["127.0.0.1:9"]}
EOF
bin/outpost serve --config "$work/outpost.yaml" 2>"$work/node.log" &
pid=$!
# stop_node: SIGTERM must end the node with 0 (within its 4 s grace); else keep its log and fail.
stop_node() {
	kill "$pid" 2>/dev/null
	local rc=0
	wait "$pid" 2>/dev/null || rc=$?
	if [ "$rc" = 0 ]; then
		rm -rf "$work"
	else
		echo "footprint.sh: the node exited $rc on SIGTERM, want 0; its log: $work/node.log" >&2
		exit 1
	fi
}
trap stop_node EXIT
for _ in $(seq 100); do curl -fs "http://$api/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs "http://$api/readyz" >/dev/null 2>&1 || { echo "footprint.sh: the node did not become ready:" >&2; tail -20 "$work/node.log" >&2; exit 1; }

kib() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$pid/status"; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
cputicks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
written() { awk '$1 == "write_bytes:" {print $2}' "/proc/$pid/io"; }
say() { printf '%-58s %s\n' "$1" "$2"; }
rss() { echo "$(mib "$(kib VmRSS)") MiB (anon $(mib "$(kib RssAnon)"), file $(mib "$(kib RssFile)"); peak $(mib "$(kib VmHWM)") MiB)"; }

echo "== binaries (node.memory_limit $memlimit)"
make -s cross >/dev/null
for f in bin/outpost-linux-*; do say "$f" "$(stat -c %s "$f") bytes ($(awk -v b="$(stat -c %s "$f")" 'BEGIN {printf "%.1f MiB", b / 1048576}'))"; done

echo "== idle (10 s after start)"
sleep 10
say "idle RSS" "$(rss)"

echo "== $records records of $payload bytes, QoS 1, $publishers publishers"
w0=$(written)
start=$(date +%s.%N)
bin/firmware-sim bench --broker "$mqtt" --publishers $publishers --messages $((records / publishers)) --payload $payload \
	--qos 1 --mode pipelined --inflight 100 --subscribers 0 --json >"$work/bench.json"
secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN {printf "%.1f", e - s}')
sleep 2 # the last group commit and the syncer
w1=$(written)
say "ingest" "$secs s ($(awk -v n="$records" -v s="$secs" 'BEGIN {printf "%.0f", n / s}') msg/s)"
say "disk writes (write_bytes)" "$(awk -v b=$((w1 - w0)) 'BEGIN {printf "%.1f MiB", b / 1048576}')"
say "bytes written per payload byte" "$(awk -v w=$((w1 - w0)) -v n="$records" -v p=$payload 'BEGIN {printf "%.1f", w / (n * p)}')"
say "bytes written per record" "$(awk -v w=$((w1 - w0)) -v n="$records" 'BEGIN {printf "%.0f", w / n}')"
say "log directory" "$(du -sm "$work/data" | cut -f1) MiB"
logical=$(curl -fs "http://$api/api/v1/status" | grep -o '"Bytes": [0-9]*' | grep -o '[0-9]*$')
say "encoded record (key + value, logical)" "$(awk -v b="$logical" -v n="$records" 'BEGIN {printf "%.0f bytes", b / n}')"
backlog=$(curl -fs "http://$api/api/v1/bridges" | grep -o '"Lag": [0-9]*' | grep -o '[0-9]*$')
say "bridge backlog (records)" "$backlog"
say "RSS after ingest" "$(rss)"

echo "== $devices devices connected (fleet-stress profile, 30 s connect spread, 60 s run) on the backlog"
bin/firmware-sim run --profile configs/fleet-stress.yaml --broker "$mqtt" --devices "$devices" --duration 75s --progress 0 \
	>"$work/fleet.log" 2>&1 &
sim=$!
cpu0=$(cputicks)
peak=0
for _ in $(seq 70); do
	sleep 1
	r=$(kib VmRSS)
	[ "$r" -gt "$peak" ] && peak=$r
done
clients=$(curl -fs "http://$api/api/v1/status" | grep -o '"ClientsConnected": [0-9]*' | grep -o '[0-9]*$')
say "connected clients" "$clients"
say "node CPU over the 70 s with devices" "$(awk -v t=$(($(cputicks) - cpu0)) -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.1f s", t / hz}')"
say "RSS with devices and backlog" "$(rss)"
say "Go heap in use / goroutine stacks" "$(curl -fs "http://$api/metrics" | awk '
	$1 == "go_memstats_heap_inuse_bytes" {h = $2} $1 == "go_memstats_stack_inuse_bytes" {s = $2} $1 == "go_goroutines" {g = $2}
	END {printf "%.1f / %.1f MiB (%d goroutines)", h / 1048576, s / 1048576, g}')"
[ -z "${HEAP_PROFILE:-}" ] || curl -fs -o "$HEAP_PROFILE" "http://$api/debug/pprof/heap"
say "highest RSS sampled with devices" "$(mib "$peak") MiB"
wait $sim || true
tail -3 "$work/fleet.log"
