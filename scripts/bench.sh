#!/usr/bin/env bash
# bench.sh: Outpost against Debian's mosquitto, driven by `firmware-sim bench`.
#
# Rows (each: 10 publishers x 10k msgs, 64-byte payloads, one subscriber on #):
#   qos0            QoS 0
#   qos1-wait       QoS 1, each publisher waits for every PUBACK
#   qos1-pipelined  QoS 1, up to 100 publishes in flight per publisher
# For each row and broker: received msgs/s, delivered %, p50/p99 latency, the
# broker's peak RSS (VmHWM) and firmware-sim's own CPU, then the
# Outpost/Mosquitto ratio of received msgs/s. Each row starts a fresh broker,
# so peak RSS is per row. Loopback only; every run is bounded by a timeout.
#
# Environment:
#   DURABILITY="batch"      Outpost durability modes to bench (e.g. "batch fsync")
#   MESSAGES=10000          messages per publisher
#   PUBLISHERS=10
#   ROWS="qos0 qos1-wait qos1-pipelined"
#   RUN_TIMEOUT=180         seconds per bench run
#   REPEAT=1                runs of each row, mosquitto and Outpost alternating; with more than
#                           one, a row ends with the median of its Outpost/mosquitto ratios (one
#                           run's ratio moves by 10-25% on a busy 2-core box)
#   CLIENT=lean             firmware-sim's MQTT client: lean (its own, the least CPU per message; a
#                           publisher waiting for each ack reads it on its own goroutine) or paho (the
#                           paho libraries, the README's tables before 2026-12-05, afternoon)
#   OUTPOST_BIN=            use this outpost binary instead of building bin/outpost
#   MEMORY_LIMIT=0          Outpost's node.memory_limit in bytes (0: the default, 48 MiB with the pi profile; -1: none)
#   PIN=                    BROKER_CPUS,FSIM_CPUS for taskset (a CPU or a range each), e.g. PIN=0,1: every
#                           broker on CPU 0 and the load generator on CPU 1, out of each other's way (Outpost
#                           then runs with GOMAXPROCS 1: Go reads its CPU mask). Unset: both float over every
#                           core, as the README's table runs.
#
# mosquitto runs with a tiny config: anonymous on 127.0.0.1 and
# max_queued_messages 0 (unlimited), so a subscriber that falls behind during
# a pipelined burst is measured as latency, not silently dropped at the
# default 1000-message queue. Outpost keeps its defaults: mqtt.max_queued 1024 packets per client (QoS 0
# beyond it is dropped and counted; QoS 1 is held back by the flow gate instead, never dropped).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
DURABILITY=${DURABILITY:-batch}
MESSAGES=${MESSAGES:-10000}
PUBLISHERS=${PUBLISHERS:-10}
ROWS=${ROWS:-"qos0 qos1-wait qos1-pipelined"}
RUN_TIMEOUT=${RUN_TIMEOUT:-180}
PIN=${PIN:-}
BROKER_PIN=()
FSIM_PIN=()
if [ -n "$PIN" ]; then
	[[ $PIN =~ ^[0-9-]+,[0-9-]+$ ]] || { echo "PIN must be BROKER_CPUS,FSIM_CPUS (e.g. 0,1), not '$PIN'" >&2; exit 2; }
	command -v taskset >/dev/null || { echo "PIN needs taskset (util-linux)" >&2; exit 2; }
	BROKER_PIN=(taskset -c "${PIN%%,*}")
	FSIM_PIN=(taskset -c "${PIN#*,}")
fi
REPEAT=${REPEAT:-1}
CLIENT=${CLIENT:-lean}
OUTPOST_BIN=${OUTPOST_BIN:-}
WORK=$(mktemp -d /tmp/outpost-bench.XXXXXX)
BROKER_PID=""
OUTPOST_HTTP=""

cleanup() {
	stop_broker
	rm -rf "$WORK"
}
trap cleanup EXIT

log() { printf '%s\n' "$*" >&2; }

. scripts/ports.sh # free_port

wait_port() { # port pid
	for _ in $(seq 1 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

stop_broker() {
	if [ -n "$BROKER_PID" ]; then
		kill "$BROKER_PID" 2>/dev/null || true
		wait "$BROKER_PID" 2>/dev/null || true
		BROKER_PID=""
	fi
}

peak_rss_mib() { # pid
	awk '/^VmHWM:/ {printf "%.1f", $2/1024}' "/proc/$1/status" 2>/dev/null || echo "?"
}

# jget KEY JSON: one number from firmware-sim's flat JSON.
jget() { sed -E "s/.*\"$1\":([-0-9.eE+]+).*/\1/" <<<"$2"; }

start_mosquitto() { # port
	cat >"$WORK/mosquitto.conf" <<EOF
listener $1 127.0.0.1
allow_anonymous true
max_queued_messages 0
persistence false
log_dest none
EOF
	"${BROKER_PIN[@]}" mosquitto -c "$WORK/mosquitto.conf" >"$WORK/mosquitto.log" 2>&1 &
	BROKER_PID=$!
	wait_port "$1" "$BROKER_PID" || { log "mosquitto did not start:"; cat "$WORK/mosquitto.log" >&2; return 1; }
}

start_outpost() { # port durability
	local http data
	http=$(free_port "$1")
	OUTPOST_HTTP=$http
	data="$WORK/outpost-data-$2-$RANDOM"
	mkdir -p "$data"
	# mosquitto has no per-client publish rate limit: lift Outpost's for a like-for-like run.
	printf 'node:\n  memory_limit: %d\nmqtt:\n  publish_rate: 0\n' "${MEMORY_LIMIT:-0}" >"$WORK/outpost.yaml"
	"${BROKER_PIN[@]}" "$OUTPOST_BIN" serve --config "$WORK/outpost.yaml" --data-dir "$data" --mqtt "127.0.0.1:$1" --http "127.0.0.1:$http" \
		--durability "$2" >"$WORK/outpost.log" 2>&1 &
	BROKER_PID=$!
	wait_port "$1" "$BROKER_PID" || { log "outpost did not start:"; tail -20 "$WORK/outpost.log" >&2; return 1; }
}

row_flags() {
	case "$1" in
	qos0) echo "--qos 0" ;;
	qos1-wait) echo "--qos 1 --mode wait" ;;
	qos1-pipelined) echo "--qos 1 --mode pipelined --inflight 100" ;;
	*) log "unknown row $1"; return 1 ;;
	esac
}

# bench_one ROW LABEL STARTER...: start a broker, bench it, print a table line,
# and leave the received msgs/s in $LAST_RATE.
bench_one() {
	local row=$1 label=$2
	shift 2
	local port out rss
	port=$(free_port)
	"$@" "$port" || { LAST_RATE=0; printf '%-16s %-18s %s\n' "$row" "$label" "broker failed to start"; return 0; }
	# shellcheck disable=SC2046
	if ! out=$(timeout -k 10 "$RUN_TIMEOUT" "${FSIM_PIN[@]}" bin/firmware-sim bench --json --broker "127.0.0.1:$port" \
		--publishers "$PUBLISHERS" --messages "$MESSAGES" --payload 64 --subscribers 1 --filter '#' \
		--drain 5s --client "$CLIENT" $(row_flags "$row") 2>"$WORK/bench.err"); then
		[ -n "$out" ] || { out='{}'; log "bench failed: $(cat "$WORK/bench.err")"; }
	fi
	rss=$(peak_rss_mib "$BROKER_PID")
	if [ -n "$OUTPOST_HTTP" ] && [ -n "$out" ] && [ "$(jget unacked "$out")" != 0 ]; then
		# Publishes never acked: keep the node's goroutines for a post-mortem.
		local dump="/tmp/outpost-bench-stuck-$row-${label//\//-}.txt"
		curl -s --max-time 5 "http://127.0.0.1:$OUTPOST_HTTP/debug/pprof/goroutine?debug=2" >"$dump" 2>/dev/null &&
			log "unacked publishes: goroutines in $dump"
	fi
	OUTPOST_HTTP=""
	stop_broker
	if [ "$out" = '{}' ]; then
		LAST_RATE=0
		printf '%-16s %-18s %s\n' "$row" "$label" "bench failed"
		return 0
	fi
	LAST_RATE=$(jget recv_rate "$out")
	local note=""
	[ "$(jget unacked "$out")" = 0 ] || note="$(jget unacked "$out") publishes never acked"
	[ "$(jget pub_errors "$out")" = 0 ] || note="$note $(jget pub_errors "$out") publish errors"
	printf '%-16s %-18s %11.0f %10.2f%% %9.2f %9.2f %9s %11.0f %9.2f %s\n' "$row" "$label" \
		"$LAST_RATE" "$(jget delivered_pct "$out")" "$(jget p50_ms "$out")" "$(jget p99_ms "$out")" \
		"$rss" "$(jget pub_rate "$out")" \
		"$(awk -v u="$(jget cpu_user_s "$out")" -v s="$(jget cpu_sys_s "$out")" 'BEGIN{print u+s}')" "$note"
}

main() {
	[[ $REPEAT =~ ^[1-9][0-9]*$ ]] || { log "REPEAT must be a positive integer, not '$REPEAT'"; exit 2; }
	mkdir -p bin
	log "building firmware-sim"
	go build -o bin/firmware-sim ./firmware-sim

	if ! command -v mosquitto >/dev/null && [ -x /usr/sbin/mosquitto ]; then PATH=$PATH:/usr/sbin; fi
	if ! command -v mosquitto >/dev/null; then
		if [ "$(id -u)" = 0 ]; then
			log "installing mosquitto"
			apt-get install -y mosquitto >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y mosquitto >/dev/null; }
			PATH=$PATH:/usr/sbin
		else
			log "mosquitto is missing and we are not root: install it (apt-get install mosquitto)"
			exit 1
		fi
	fi

	local have_outpost=1
	if [ -z "$OUTPOST_BIN" ]; then
		OUTPOST_BIN=bin/outpost
		log "building outpost"
		# As make build ships it: static (cgo off, so no libc mapped in) and stripped.
		if ! CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o bin/outpost ./cmd/outpost 2>"$WORK/build.log"; then
			have_outpost=0
			log "bin/outpost cannot be built; benching mosquitto only. Build errors:"
			head -5 "$WORK/build.log" >&2
		fi
	fi

	printf '# %d publishers x %d msgs, 64 B payloads, 1 subscriber on #; %s; %s, %d cores; firmware-sim --client %s\n' \
		"$PUBLISHERS" "$MESSAGES" "$(mosquitto -h 2>/dev/null | head -1)" "$(uname -m)" "$(nproc)" "$CLIENT"
	[ -z "$PIN" ] || printf '# pinned: brokers on CPU %s, firmware-sim on CPU %s\n' "${PIN%%,*}" "${PIN#*,}"
	printf '%-16s %-18s %11s %11s %9s %9s %9s %11s %9s %s\n' row broker "recv msg/s" delivered "p50 ms" "p99 ms" "RSS MiB" "pub msg/s" "fsim CPU s" notes
	local row mq d rep ratio
	for row in $ROWS; do
		local -A ratios=()
		for rep in $(seq 1 "$REPEAT"); do
			bench_one "$row" mosquitto start_mosquitto
			mq=$LAST_RATE
			[ "$have_outpost" = 1 ] || continue
			for d in $DURABILITY; do
				bench_one "$row" "outpost/$d" start_outpost_with "$d"
				ratio=$(awk -v o="$LAST_RATE" -v m="$mq" 'BEGIN{ if (m > 0) printf "%.2f", o/m }')
				[ -n "$ratio" ] || continue
				printf '%-16s %-18s %10sx\n' "$row" "ratio $d/mosq" "$ratio"
				ratios[$d]="${ratios[$d]:-}$ratio "
			done
		done
		if [ "$REPEAT" -gt 1 ]; then
			for d in "${!ratios[@]}"; do
				# shellcheck disable=SC2086
				printf '%-16s %-18s %10sx  (ratios: %s)\n' "$row" "median $d/mosq" \
					"$(printf '%s\n' ${ratios[$d]} | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')" "${ratios[$d]% }"
			done
		fi
		unset ratios
	done
}

# start_outpost_with DURABILITY PORT: argument order for bench_one.
start_outpost_with() { start_outpost "$2" "$1"; }

main "$@"
