# Sourced by the measuring scripts (bench.sh, footprint.sh, sustained.sh).
#
# free_port [PORT...] prints a loopback TCP port that nothing listens on and that is none of the PORTs given,
# below the kernel's ephemeral range (/proc/sys/net/ipv4/ip_local_port_range, 32768-60999 by default), so no
# outgoing connection holds it either. Plain bash: a fresh Debian has no python3. (Random picks in 20000-60000
# once met an outgoing connection's port, and the node exited: bind: address already in use.)
free_port() {
	local p
	for _ in $(seq 1000); do
		p=$((20000 + RANDOM % 12000))
		case " $* " in *" $p "*) continue ;; esac
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	echo "free_port: no free port found in 20000-31999" >&2
	return 1
}
