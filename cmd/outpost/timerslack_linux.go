package main

import (
	"fmt"
	"os"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// timerSlackExecEnv marks the process raiseTimerSlack started, so that it
// executes itself once at most.
const timerSlackExecEnv = "OUTPOST_TIMER_SLACK_EXEC"

// raiseTimerSlack gives every thread of the process at least want of timer
// slack (prctl PR_SET_TIMERSLACK): the kernel may then fire the process's
// timers and end its sleeps up to that much late, and group their wake-ups.
//
// The thread it is for is the Go runtime's monitor (sysmon). While a
// thread of the node is in a system call, sysmon checks every 20 us whether
// to hand that thread's P to another, so a node busy with socket writes and
// fsyncs wakes it thousands of times a second, each wake-up a
// nanosleep that ends after the default slack of 50 us. With 1 ms each
// sleep lasts about 1 ms: over 5 s of pipelined publishing the node made
// 4.0k nanosleeps instead of 12.8k, and 16.5k context switches instead of
// 33.7k. Measured on the 2-core dev box (README,
// "What changed on 2026-12-03, late evening"): CPU per message 0.92x
// pipelined, at 1.03x the rate, and 0.94x waiting for each ack.
//
// A thread inherits the slack of the thread that starts it, and execve
// keeps it, but the runtime starts sysmon before main runs, and setting
// another thread's slack needs CAP_SYS_NICE. So when the process runs with
// less, raiseTimerSlack sets its own thread's and executes the binary again
// (the same arguments and environment, and timerSlackExecEnv): the new
// runtime starts every thread with the slack. It returns only when it did
// not exec: with what it found to log ("" when want is 0 or the slack was
// already there), or an error saying why the slack stays as it was.
func raiseTimerSlack(want time.Duration) (string, error) {
	execed := os.Getenv(timerSlackExecEnv) != ""
	if execed {
		_ = os.Unsetenv(timerSlackExecEnv) // not passed on to anything the node starts
	}
	if want <= 0 {
		return "", nil
	}
	cur, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil {
		return "", fmt.Errorf("read the timer slack: %w", err)
	}
	if time.Duration(cur) >= want {
		if execed {
			return "restarted with the timer slack raised", nil
		}
		return "", nil
	}
	if execed {
		// The kernel keeps a real-time thread's slack at 0.
		return "", fmt.Errorf("the timer slack is %v after a restart that set %v", time.Duration(cur), want)
	}
	runtime.LockOSThread() // prctl and execve on one thread
	defer runtime.UnlockOSThread()
	if err := unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(want), 0, 0, 0); err != nil {
		return "", fmt.Errorf("set the timer slack: %w", err)
	}
	err = syscall.Exec("/proc/self/exe", os.Args, append(os.Environ(), timerSlackExecEnv+"=1"))
	return "", fmt.Errorf("restart with the timer slack raised: %w", err)
}
