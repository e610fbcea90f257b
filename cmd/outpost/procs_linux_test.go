//go:build linux

package main

import (
	"os"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/outpost-edge/outpost/internal/cpulimit"
	"github.com/outpost-edge/outpost/internal/testnet"
)

// TestServeFollowsItsAffinity narrows a running node's affinity mask to
// one CPU, as `taskset -a -p` does, and widens it again: the governor's
// ceiling, and its Ps, follow.
func TestServeFollowsItsAffinity(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	if os.Getenv("GOMAXPROCS") != "" {
		t.Skip("GOMAXPROCS is set: the governor does not run")
	}
	var all unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		t.Fatal(err)
	}
	limit, err := cpulimit.Read()
	if err != nil {
		t.Fatal(err)
	}
	if limit.Cores() < 2 {
		t.Skipf("the node may use %d core: no lower ceiling to move to", limit.Cores())
	}
	p := startProc(t, t.TempDir(), testnet.FreeAddr(t), testnet.FreeAddr(t), "--durability", "batch")
	waitProcs(t, p.api, 1, limit.Cores())

	var one unix.CPUSet
	for c := 0; c < 1024; c++ {
		if all.IsSet(c) {
			one.Set(c)
			break
		}
	}
	setAffinity(t, p.cmd.Process.Pid, &one)
	waitProcs(t, p.api, 1, 1)
	setAffinity(t, p.cmd.Process.Pid, &all)
	waitProcs(t, p.api, 1, limit.Cores())
}

// setAffinity sets the mask of every thread of process pid.
func setAffinity(t *testing.T, pid int, set *unix.CPUSet) {
	t.Helper()
	tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		tid, err := strconv.Atoi(task.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, set); err != nil && err != unix.ESRCH {
			t.Fatalf("thread %d: %v", tid, err)
		}
	}
}
