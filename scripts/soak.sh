#!/usr/bin/env bash
# A gateway's day, compressed: a node on its defaults (fsync) with a 64 MiB log bound, a rollup, and an MQTT bridge
# to a local mosquitto (the "cloud") that is down 2 minutes of every 5, under a fleet of DEVICES factory machines
# (configs/fleet-factory.yaml, 1 Hz each) for MINUTES. Every 30 s it prints the node's RSS and peak, Go heap in
# use, goroutines, open files, threads, the log's size on disk, the bridge's lag and the records appended, so a
# leak or a ratchet shows as a column that only grows. At the end: firmware-sim's totals and the node's warnings
# and errors, counted by message. The README's "Footprint" has the figures of 2026-12-04.
#   scripts/soak.sh [MINUTES] [DEVICES]      (defaults 30 and 2000)
# Needs mosquitto (apt-get install mosquitto). Set OUTPOST_BIN to soak another outpost binary.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-30}
devices=${2:-2000}
. scripts/cloud.sh
cloud_setup soak
cat >"$work/outpost.yaml" <<EOF
storage:
  max_bytes: 67108864
rollups:
  - name: vibration
    filter: factory/+/+/telemetry
    field: vibration
    windows: [1m, "last 20"]
    functions: [avg, max]
    output: "rollup/{name}/{series}/{window}"
    emit: 10s
bridges:
  - name: cloud
    kind: mqtt
    rules: [{filter: "factory/#", add_prefix: "site-1/"}]
    mqtt: {address: "127.0.0.1:$cloud_port", client_id: gateway-soak}
EOF
cloud_up
start_node
bin/firmware-sim run --profile configs/fleet-factory.yaml --devices "$devices" --broker "127.0.0.1:$mqtt_port" \
	--duration "${minutes}m" --progress 0 >"$work/fleet.log" 2>&1 &
fleet=$!

metric() { awk -v k="$1" '$1 == k {print $2; exit}' "$work/metrics"; }
mib() { awk -v b="${1:-0}" 'BEGIN {printf "%.1f", b / 1048576}'; }
kib() { awk -v k="$1" '$1 == k":" {printf "%.1f", $2 / 1024}' "/proc/$node/status"; }
printf '%6s %6s %8s %9s %10s %10s %6s %7s %8s %8s %10s\n' s uplink "RSS MiB" "peak MiB" "heap MiB" goroutines files \
	threads "log MiB" lag appended
start=$(date +%s) last=-30
while kill -0 "$fleet" 2>/dev/null; do
	t=$(($(date +%s) - start))
	if (((t / 60) % 5 >= 3)); then # minutes 3 and 4 of every 5: the uplink is down
		cloud_down
		uplink=down
	else
		cloud_up
		uplink=up
	fi
	if ((t - last >= 30)); then
		last=$t
		curl -sf -o "$work/metrics" "http://$api/metrics" || : >"$work/metrics"
		printf '%6d %6s %8s %9s %10s %10s %6s %7s %8s %8s %10s\n' "$t" "$uplink" "$(kib VmRSS)" "$(kib VmHWM)" \
			"$(mib "$(metric go_memstats_heap_inuse_bytes)")" "$(metric go_goroutines)" "$(ls "/proc/$node/fd" | wc -l)" \
			"$(awk '/^Threads:/ {print $2}' "/proc/$node/status")" "$(mib "$(metric outpost_log_disk_bytes)")" \
			"$(metric 'outpost_bridge_lag_records{bridge="cloud"}')" "$(metric outpost_log_appended_records_total)"
	fi
	sleep 1
done
wait "$fleet" || true
fleet=
echo "firmware-sim: $(grep -E 'published' "$work/fleet.log" | tail -1)"
echo "node warnings and errors, by message:"
grep -E '"level":"(warn|error)"' "$work/node.log" | sed -E 's/.*"level":"([a-z]+)".*"message":"([^"]*)".*/\1: \2/' |
	sort | uniq -c | sort -rn || echo "  none"
