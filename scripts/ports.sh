# Sourced by the measuring scripts (bench.sh, footprint.sh, sustained.sh, and cloud.sh for soak.sh and large-payloads.sh).
#
# free_port [PORT...] prints a loopback TCP port that nothing listens on and that is none of the PORTs given,
# below the kernel's ephemeral range (/proc/sys/net/ipv4/ip_local_port_range, 32768-60999 by default), so no
# outgoing connection holds it either. Plain bash: a fresh Debian has no python3. (Random picks in 20000-60000
# once met an outgoing connection's port, and the node exited: bind: address already in use.)
free_port() {
	local p lo=32768
	read -r lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
	[ "$lo" -gt 12000 ] || lo=32768 # a range configured that low leaves no room below it: take the default's
	for _ in $(seq 1000); do
		p=$((10000 + RANDOM % (lo - 10000)))
		case " $* " in *" $p "*) continue ;; esac
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	echo "free_port: no free port found in 10000-$((lo - 1))" >&2
	return 1
}
