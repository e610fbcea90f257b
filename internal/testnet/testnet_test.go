package testnet

import (
	"net"
	"strconv"
	"testing"
)

// FreeAddr's ports are below the ephemeral range, distinct, and bindable
// for TCP and UDP when returned.
func TestFreeAddr(t *testing.T) {
	low := ephemeralLow()
	if low-lowest < 1001 {
		t.Skipf("ephemeral range starts at %d: FreeAddr lets the kernel choose", low)
	}
	seen := map[string]bool{}
	for range 200 {
		addr := FreeAddr(t)
		_, p, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatal(err)
		}
		port, _ := strconv.Atoi(p)
		if port < lowest || port >= low {
			t.Fatalf("%s: port outside %d-%d", addr, lowest, low-1)
		}
		if seen[addr] {
			t.Fatalf("%s returned twice", addr)
		}
		seen[addr] = true
		if !bindable(addr) {
			t.Fatalf("%s not bindable right after FreeAddr", addr)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if bindable(l.Addr().String()) {
		t.Fatalf("bindable says yes for %s, which is in use", l.Addr())
	}
}
