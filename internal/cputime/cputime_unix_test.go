//go:build unix

package cputime

import (
	"testing"
	"time"
)

func TestProcessCountsCPUUsed(t *testing.T) {
	u0, s0 := Process()
	stop := time.Now().Add(200 * time.Millisecond)
	x := 0
	for time.Now().Before(stop) { // keeps a CPU busy, in user space
		x++
	}
	u1, s1 := Process()
	if u1 <= u0 || s1 < s0 {
		t.Fatalf("user %v -> %v, system %v -> %v after 200 ms of spinning (%d loops)", u0, u1, s0, s1, x)
	}
	if u1-u0 > 10*time.Second {
		t.Fatalf("user time grew %v in 200 ms", u1-u0)
	}
}
