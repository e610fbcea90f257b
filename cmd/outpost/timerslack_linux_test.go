package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/outpost-edge/outpost/internal/testnet"
	"github.com/outpost-edge/outpost/internal/timerslack"
)

// threadSlacks reads the timer slack of every thread of process pid.
func threadSlacks(t *testing.T, pid int) map[int]time.Duration {
	t.Helper()
	slacks, err := timerslack.Threads(pid)
	if errors.Is(err, fs.ErrPermission) {
		t.Skipf("reading a child's timer slack needs ptrace access to it (kernel.yama.ptrace_scope): %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return slacks
}

// Every thread of a node runs with node.timer_slack, the Go runtime's own
// (sysmon, started before main) included, and 0s leaves the slack the node
// was started with on all of them.
func TestServeRaisesTimerSlack(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	inherited, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(inherited) >= time.Millisecond {
		t.Skipf("this test runs with a timer slack of %v already", time.Duration(inherited))
	}
	for _, tc := range []struct {
		name, config string
		want         time.Duration
	}{
		{"default", "", time.Millisecond},
		{"configured", "node:\n  timer_slack: 2ms\n", 2 * time.Millisecond},
		{"off", "node:\n  timer_slack: 0s\n", time.Duration(inherited)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			extra := []string{"--durability", "batch"}
			if tc.config != "" {
				cfg := filepath.Join(dir, "outpost.yaml")
				if err := os.WriteFile(cfg, []byte(tc.config), 0o600); err != nil {
					t.Fatal(err)
				}
				extra = append(extra, "--config", cfg)
			}
			p := startProc(t, filepath.Join(dir, "data"), testnet.FreeAddr(t), testnet.FreeAddr(t), extra...)
			slacks := threadSlacks(t, p.cmd.Process.Pid)
			if len(slacks) < 3 {
				t.Fatalf("%d threads: want the runtime's and the node's", len(slacks))
			}
			for tid, slack := range slacks {
				if slack != tc.want {
					t.Errorf("thread %d: timer slack %v, want %v (all: %v)", tid, slack, tc.want, slacks)
				}
			}
		})
	}
}
