package main

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/outpost-edge/outpost/internal/timerslack"
)

// mainEnv makes this test binary run firmware-sim's main with its arguments.
const mainEnv = "FIRMWARE_SIM_TEST_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(mainEnv) != "" {
		if len(os.Args) > 1 && os.Args[1] == "-test.run=^$" {
			os.Args = append(os.Args[:1], os.Args[2:]...) // main's restart has it no more
		}
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Every thread of firmware-sim runs with timerSlack, the Go runtime's
// monitor thread (started before main) included: firmware-sim executes
// itself once more to give it to them.
func TestRunsWithTimerSlack(t *testing.T) {
	inherited, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(inherited) >= timerSlack {
		t.Skipf("this test runs with a timer slack of %v already", time.Duration(inherited))
	}
	// A "broker" that accepts and never answers: the bench waits for CONNACK.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "bench", "--broker", ln.Addr().String(), "--publishers", "1", "--subscribers", "0", "--messages", "1")
	cmd.Env = append(os.Environ(), mainEnv+"=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	select {
	case c := <-accepted: // connected: main runs, past the restart
		defer c.Close()
	case <-time.After(20 * time.Second):
		t.Fatal("firmware-sim never connected")
	}
	slacks, err := timerslack.Threads(cmd.Process.Pid)
	if errors.Is(err, fs.ErrPermission) {
		t.Skipf("reading a child's timer slack needs ptrace access to it (kernel.yama.ptrace_scope): %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(slacks) < 3 {
		t.Fatalf("%d threads: want the runtime's too", len(slacks))
	}
	for tid, s := range slacks {
		if s != timerSlack {
			t.Fatalf("thread %d of %d has a timer slack of %v, want %v", tid, len(slacks), s, timerSlack)
		}
	}
}
