# Sourced by soak.sh and large-payloads.sh: one node on loopback whose bridge's uplink is a local mosquitto (the
# "cloud"), which the script starts and stops to make outages. Needs mosquitto (apt-get install mosquitto).
#
# cloud_setup NAME builds the binaries and sets bin (OUTPOST_BIN, or bin/outpost), work (a new /tmp/outpost-NAME.*
# directory, removed on exit), mqtt_port, api_port, cloud_port and api, writes $work/cloud.conf and arranges for
# the node, the cloud and a firmware-sim fleet ($fleet) to be stopped on exit. The caller writes
# $work/outpost.yaml, with the bridge's address 127.0.0.1:$cloud_port, then calls start_node.
# start_node starts the node and waits until it is ready; cloud_up and cloud_down start and stop the cloud.
. "$(dirname "${BASH_SOURCE[0]}")/ports.sh"

cloud_setup() {
	mosquitto=$(command -v mosquitto || echo /usr/sbin/mosquitto)
	[ -x "$mosquitto" ] || { echo "$1: needs mosquitto as the cloud broker (apt-get install mosquitto)" >&2; exit 1; }
	make -s build
	bin=${OUTPOST_BIN:-bin/outpost}
	work=$(mktemp -d "/tmp/outpost-$1.XXXXXX")
	mqtt_port=$(free_port)
	api_port=$(free_port "$mqtt_port")
	cloud_port=$(free_port "$mqtt_port" "$api_port")
	api=127.0.0.1:$api_port
	printf 'listener %d 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest none\n' "$cloud_port" \
		>"$work/cloud.conf"
	node= cloud= fleet=
	trap cloud_cleanup EXIT
}

cloud_cleanup() {
	[ -n "$fleet" ] && kill "$fleet" 2>/dev/null
	[ -n "$cloud" ] && kill "$cloud" 2>/dev/null
	[ -n "$node" ] && kill "$node" 2>/dev/null && wait "$node" 2>/dev/null
	rm -rf "$work"
}

start_node() {
	"$bin" serve --config "$work/outpost.yaml" --data-dir "$work/data" --mqtt "127.0.0.1:$mqtt_port" --http "$api" \
		>"$work/node.log" 2>&1 &
	node=$!
	for _ in $(seq 50); do curl -sf "http://$api/readyz" >/dev/null && break; sleep 0.1; done
	curl -sf "http://$api/readyz" >/dev/null || { echo "node did not become ready:" >&2; tail -20 "$work/node.log" >&2; exit 1; }
}

cloud_up() { [ -n "$cloud" ] || { "$mosquitto" -c "$work/cloud.conf" & cloud=$!; }; }

cloud_down() { [ -z "$cloud" ] || { kill "$cloud"; wait "$cloud" 2>/dev/null || true; cloud=; }; }
