#!/usr/bin/env bash
# kcat-check.sh BROKER TOPIC COUNT [ORIGIN]
#
# Reads TOPIC back from the Kafka broker at BROKER with kcat (an independent
# client: librdkafka, not franz-go) and verifies what an Outpost Kafka bridge
# promises: exactly COUNT records, no record id twice, every record carries
# the mqtt.topic, mqtt.qos, mqtt.retain, outpost.origin and outpost.offset
# headers, the key is the MQTT topic (default key template), and per key the
# outpost.offset values strictly increase (log order per MQTT topic).
# Installs the Debian package kcat when missing and running as root.
# Exit 0 and "kcat-check: OK ..." on success; 1 with the first problem; 3 when
# kcat is unavailable.
set -euo pipefail
broker=${1:?usage: kcat-check.sh BROKER TOPIC COUNT [ORIGIN]}
topic=${2:?topic}
count=${3:?count}
origin=${4:-}

if ! command -v kcat >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		apt-get install -y kcat >/dev/null 2>&1 || true
	fi
	command -v kcat >/dev/null 2>&1 || { echo "kcat-check: kcat not installed (Debian package kcat)" >&2; exit 3; }
fi

# One line per record: key TAB headers TAB payload.
kcat -C -b "$broker" -t "$topic" -o beginning -e -q -f '%k\t%h\t%s\n' |
	awk -F'\t' -v want="$count" -v origin="$origin" '
	function fail(msg) { print "kcat-check: FAIL: " msg > "/dev/stderr"; bad = 1; exit 1 }
	{
		n++
		delete h
		split($2, kv, ",")
		for (i in kv) { p = index(kv[i], "="); h[substr(kv[i], 1, p - 1)] = substr(kv[i], p + 1) }
		for (k in req) if (!(k in h)) fail("record " n ": header " k " missing: " $2)
		if (h["mqtt.topic"] != $1) fail("record " n ": key " $1 " != mqtt.topic " h["mqtt.topic"])
		if (origin != "" && h["outpost.origin"] != origin) fail("record " n ": origin " h["outpost.origin"])
		id = h["outpost.origin"] ":" h["outpost.offset"]
		if (id in seen) fail("duplicate record id " id)
		seen[id] = 1
		off = h["outpost.offset"] + 0
		if ($1 in last && off <= last[$1]) fail("key " $1 ": offset " off " after " last[$1])
		last[$1] = off
	}
	BEGIN { req["mqtt.topic"]; req["mqtt.qos"]; req["mqtt.retain"]; req["outpost.origin"]; req["outpost.offset"] }
	END {
		if (bad) exit 1
		if (n != want) { print "kcat-check: FAIL: " n " records, want " want > "/dev/stderr"; exit 1 }
		print "kcat-check: OK " n " records, " length(last) " keys, headers and per-key order verified"
	}'
