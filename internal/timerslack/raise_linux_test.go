package timerslack

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The child: this test binary with childEnv set to the slack to Raise. It
// prints what Raise returned and every thread's timer slack, in
// nanoseconds, on one line each.
const (
	childEnv = "TIMERSLACK_TEST_WANT"
	execEnv  = "TIMERSLACK_TEST_EXEC"
)

func TestMain(m *testing.M) {
	if want := os.Getenv(childEnv); want != "" {
		d, err := time.ParseDuration(want)
		if err != nil {
			fmt.Println("err", err)
			os.Exit(2)
		}
		note, err := Raise(d, execEnv)
		fmt.Printf("note %q\nerr %v\nenv %q\n", note, err, os.Getenv(execEnv))
		slacks, err := Threads(os.Getpid())
		if err != nil {
			fmt.Println("err", err)
			os.Exit(2)
		}
		for _, s := range slacks {
			fmt.Println("thread", int64(s))
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// child runs the test binary as a child that raises its slack to want.
func child(t *testing.T, want string) (lines []string, slacks []time.Duration) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+want)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("child: %v\n%s", err, out.String())
	}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if ns, ok := strings.CutPrefix(line, "thread "); ok {
			n, err := strconv.ParseInt(ns, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			slacks = append(slacks, time.Duration(n))
			continue
		}
		lines = append(lines, line)
	}
	if len(slacks) < 3 {
		t.Fatalf("the child listed %d threads: want the runtime's too\n%s", len(slacks), out.String())
	}
	return lines, slacks
}

// Raise gives every thread the slack, the runtime's own (started before
// main) included, by executing the process once more; 0 changes nothing.
func TestRaise(t *testing.T) {
	inherited, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(inherited) >= 2*time.Millisecond {
		t.Skipf("this test runs with a timer slack of %v already", time.Duration(inherited))
	}
	lines, slacks := child(t, "2ms")
	want := []string{`note "restarted with the timer slack raised"`, "err <nil>", `env ""`}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("child said %q, want %q", lines, want)
	}
	for i, s := range slacks {
		if s != 2*time.Millisecond {
			t.Fatalf("thread %d of %d has a slack of %v, want 2ms", i, len(slacks), s)
		}
	}
	lines, slacks = child(t, "0s")
	if lines[0] != `note ""` || lines[1] != "err <nil>" {
		t.Fatalf("Raise(0) said %q", lines)
	}
	for _, s := range slacks {
		if s != time.Duration(inherited) {
			t.Fatalf("Raise(0) changed a thread's slack to %v (inherited %v)", s, time.Duration(inherited))
		}
	}
}
