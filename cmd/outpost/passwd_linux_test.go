package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/outpost-edge/outpost/internal/testlog"
)

// openPTY opens a pseudo-terminal pair: the controller (what a terminal
// emulator holds) and the terminal a program reads as its stdin.
func openPTY(t *testing.T) (ctrl, tty *os.File) {
	t.Helper()
	ctrl, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { ctrl.Close() })
	fd := int(ctrl.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here (is devpts mounted on /dev/pts?): %v", err)
	}
	t.Cleanup(func() { tty.Close() })
	return ctrl, tty
}

// TestReadPasswordFromTerminal: on a terminal the password is asked twice,
// is not echoed, and the terminal's echo is back on afterwards; two different
// entries are refused.
func TestReadPasswordFromTerminal(t *testing.T) {
	for _, tc := range []struct {
		typed   string
		want    string
		wantErr string
	}{
		{"s3cret\rs3cret\r", "s3cret", ""},
		{"s3cret\rother\r", "", "passwords do not match"},
	} {
		ctrl, tty := openPTY(t)
		echoed := make(chan string, 1)
		go func() { // what the terminal shows: any echo of what is typed (the prompts go to stderr)
			b, _ := io.ReadAll(ctrl) // until tty and ctrl close (EIO)
			echoed <- string(b)
		}()
		type result struct {
			pw  []byte
			err error
		}
		done := make(chan result, 1)
		prompts := &testlog.Buffer{}
		go func() {
			pw, err := readPassword(tty, prompts)
			done <- result{pw, err}
		}()
		// Type each line once its prompt is out and echo is off: typed
		// earlier, the kernel would echo it.
		for i, line := range strings.SplitAfter(tc.typed, "\r")[:2] {
			waitPromptedEchoOff(t, tty, prompts, i+1)
			if _, err := ctrl.Write([]byte(line)); err != nil {
				t.Fatal(err)
			}
		}
		var r result
		select {
		case r = <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("readPassword did not return")
		}
		switch {
		case tc.wantErr != "" && (r.err == nil || r.err.Error() != tc.wantErr):
			t.Fatalf("typed %q: err %v, want %q", tc.typed, r.err, tc.wantErr)
		case tc.wantErr == "" && (r.err != nil || string(r.pw) != tc.want):
			t.Fatalf("typed %q: %q, %v; want %q", tc.typed, r.pw, r.err, tc.want)
		}
		if !strings.Contains(prompts.String(), "Password: ") || !strings.Contains(prompts.String(), "Reenter password: ") {
			t.Fatalf("prompts: %q", prompts.String())
		}
		st, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
		if err != nil {
			t.Fatal(err)
		}
		if st.Lflag&unix.ECHO == 0 {
			t.Fatal("echo stays off after readPassword")
		}
		tty.Close()
		if out := <-echoed; strings.Contains(out, "s3cret") || strings.Contains(out, "other") {
			t.Fatalf("the terminal echoed the password: %q", out)
		}
	}
}

// waitPromptedEchoOff waits until readPassword has written its nth prompt
// and tty's echo is off: it is waiting for the nth line. (Echo comes back on
// between two lines, before the second prompt.)
func waitPromptedEchoOff(t *testing.T, tty *os.File, prompts *testlog.Buffer, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Count(prompts.String(), "assword: ") >= n && st.Lflag&unix.ECHO == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("echo never went off")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
