#!/usr/bin/env bash
# Large payloads through store-and-forward: COUNT QoS 1 messages of SIZE bytes (defaults 1000 and 262144) published
# one by one with mosquitto_pub while the node's MQTT bridge cannot reach its uplink, then drained to a local
# mosquitto (the "cloud"). Records of 64 KiB and more go to Badger's value log, which is memory-mapped (Outpost's
# copy of Badger writes it with pwritev and reads the log's records with pread since 2026-12-04, midnight), so this
# shows what the node holds for them: its peak RSS after logging and after the drain, the resident value-log pages at
# the most (sampled every 0.1 s during the drain), and the drain's time. The README's "Footprint" has the figures.
#   scripts/large-payloads.sh [COUNT] [SIZE]
# Needs mosquitto and mosquitto-clients. Set OUTPOST_BIN to measure another outpost binary.
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-1000}
size=${2:-262144}
command -v mosquitto_pub >/dev/null ||
	{ echo "large-payloads: needs mosquitto_pub (apt-get install mosquitto-clients)" >&2; exit 1; }
. scripts/cloud.sh
cloud_setup large
cat >"$work/outpost.yaml" <<EOF
bridges:
  - name: cloud
    kind: mqtt
    rules: [{filter: "#"}]
    backoff_max: 1s
    mqtt: {address: "127.0.0.1:$cloud_port", client_id: gateway-large}
EOF
start_node

mib() { awk -v k="$1" '$1 == k":" {printf "%.1f", $2 / 1024}' "/proc/$node/status"; }
# vlog_kib: the resident KiB of the node's mapped value-log files.
vlog_kib() {
	awk '/^[0-9a-f]+-[0-9a-f]+ / {v = ($6 ~ /\.vlog$/)} /^Rss:/ && v {n += $2} END {print n + 0}' "/proc/$node/smaps"
}
head -c "$size" /dev/urandom >"$work/payload"
for i in $(seq "$count"); do
	mosquitto_pub -p "$mqtt_port" -t "cam/$((i % 4))/image" -q 1 -f "$work/payload"
done
echo "logged $count x $size B with the uplink down: peak RSS $(mib VmHWM) MiB, now $(mib VmRSS) MiB" \
	"(anonymous $(mib RssAnon), mapped files $(mib RssFile)), value log resident $(vlog_kib) KiB"

cloud_up
start=$(date +%s%N) most=0
while :; do
	v=$(vlog_kib)
	((v > most)) && most=$v
	lag=$(curl -sf "http://$api/metrics" | awk '$1 == "outpost_bridge_lag_records{bridge=\"cloud\"}" {print $2}')
	[ "$lag" = 0 ] && break
	sleep 0.1
done
ms=$((($(date +%s%N) - start) / 1000000))
echo "drained in $ms ms: peak RSS $(mib VmHWM) MiB, value log resident at most $most KiB"
grep -E '"level":"(warn|error)"' "$work/node.log" | grep -v "uplink failed" | head -5 || true
