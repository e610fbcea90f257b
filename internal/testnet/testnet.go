// Package testnet gives tests loopback addresses that stay theirs. Test
// support only: no command imports it.
//
// A port the kernel hands out for 127.0.0.1:0 comes from its ephemeral range,
// which is also where it takes the local port of every outgoing connection.
// A test that picks a port that way, closes it and binds it again later (a
// child process's listener, a node restarted on its old address) can find it
// taken in between by any connection on the machine: it happened to node c of
// cmd/outpost's TestClusterNodeKilledUnderLoad ("bind: address already in
// use"). FreeAddr picks ports below the ephemeral range, where no outgoing
// connection goes.
package testnet

import (
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// lowest is the lowest port FreeAddr picks.
const lowest = 20000

var (
	mu    sync.Mutex
	given = map[int]bool{}
)

// FreeAddr returns "127.0.0.1:port" with a port that TCP and UDP can bind
// now, chosen at random between 20000 and the start of the kernel's
// ephemeral range, and never returned twice in one test binary. With an
// unusual ephemeral range (starting below 21000) it lets the kernel choose.
func FreeAddr(t testing.TB) string {
	t.Helper()
	hi := ephemeralLow() - 1
	if hi-lowest < 1000 {
		return kernelAddr(t)
	}
	mu.Lock()
	defer mu.Unlock()
	for range 1000 {
		port := lowest + rand.IntN(hi-lowest+1)
		if given[port] {
			continue
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if !bindable(addr) {
			continue
		}
		given[port] = true
		return addr
	}
	t.Fatalf("testnet: no free port in %d-%d", lowest, hi)
	return ""
}

// bindable reports whether TCP and UDP (a gossip address binds both) can
// listen on addr.
func bindable(addr string) bool {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	defer l.Close()
	u, err := net.ListenPacket("udp", addr)
	if err != nil {
		return false
	}
	u.Close()
	return true
}

// ephemeralLow is the first port of the kernel's ephemeral range (Linux's
// default when it cannot be read).
func ephemeralLow() int {
	const linuxDefault = 32768
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return linuxDefault
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return linuxDefault
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return linuxDefault
	}
	return n
}

func kernelAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
