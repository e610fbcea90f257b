package storage

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// selfExecEnv names the emulator that runs this test binary's children when
// the binary is for another architecture (make test-arm sets it, e.g.
// qemu-arm-static): go test -exec wraps only the first process, and without
// a binfmt_misc handler the kernel cannot run a foreign child directly.
const selfExecEnv = "OUTPOST_TEST_EXEC"

// selfCommand re-runs this test binary with args, through the emulator in
// $OUTPOST_TEST_EXEC when set.
func selfCommand(args ...string) *exec.Cmd {
	if w := strings.Fields(os.Getenv(selfExecEnv)); len(w) > 0 {
		return exec.Command(w[0], append(append(w[1:], os.Args[0]), args...)...)
	}
	return exec.Command(os.Args[0], args...)
}

// startSelf starts cmd from selfCommand; a test binary for another
// architecture run without $OUTPOST_TEST_EXEC skips instead of failing.
func startSelf(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	err := cmd.Start()
	if errors.Is(err, syscall.ENOEXEC) {
		t.Skipf("cannot re-run this foreign-architecture test binary (%v): set %s to its emulator, e.g. qemu-arm-static (package qemu-user-static), as make test-arm does", err, selfExecEnv)
	}
	if err != nil {
		t.Fatal(err)
	}
}
