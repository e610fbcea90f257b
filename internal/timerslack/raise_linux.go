// Package timerslack gives every thread of the process, the Go runtime's
// own included, a Linux timer slack (Raise). The node (node.timer_slack) and
// firmware-sim use it.
package timerslack

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Raise gives every thread of the process at least want of timer
// slack (prctl PR_SET_TIMERSLACK): the kernel may then fire the process's
// timers and end its sleeps up to that much late, and group their wake-ups.
//
// The thread it is for is the Go runtime's monitor (sysmon). While a
// thread is in a system call, sysmon checks every 20 us whether to hand that
// thread's P to another, so a process busy with socket writes and fsyncs
// (the node, or firmware-sim's clients) wakes it thousands of times a
// second, each wake-up a nanosleep that ends after the default slack of 50 us. With 1 ms each
// sleep lasts about 1 ms: over 5 s of pipelined publishing the node made
// 4.0k nanosleeps instead of 12.8k, and 16.5k context switches instead of
// 33.7k. Measured on the 2-core dev box (scripts/RESULTS.md,
// "What changed on 2026-12-03, late evening"): CPU per message 0.92x
// pipelined, at 1.03x the rate, and 0.94x waiting for each ack.
//
// A thread inherits the slack of the thread that starts it, and execve
// keeps it, but the runtime starts sysmon before main runs, and setting
// another thread's slack needs CAP_SYS_NICE. So when the process runs with
// less, Raise sets its own thread's and executes the binary again (the same
// arguments and environment, and execEnv=1): the new runtime starts every
// thread with the slack. execEnv, a name of the caller's, marks that second
// start, so the process executes itself once at most. Raise must run first
// in main, before the process starts anything. It returns only when it did
// not exec: with what it found to log ("" when want is 0 or the slack was
// already there), or an error saying why the slack stays as it was.
func Raise(want time.Duration, execEnv string) (string, error) {
	execed := os.Getenv(execEnv) != ""
	if execed {
		_ = os.Unsetenv(execEnv) // not passed on to anything the process starts
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
	err = syscall.Exec("/proc/self/exe", os.Args, append(os.Environ(), execEnv+"=1"))
	return "", fmt.Errorf("restart with the timer slack raised: %w", err)
}

// Threads returns the timer slack of every thread of process pid, by thread
// id. Reading another process's needs ptrace access to it: the error is then
// fs.ErrPermission (kernel.yama.ptrace_scope above 1 denies even a parent).
func Threads(pid int) (map[int]time.Duration, error) {
	tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		return nil, err
	}
	slacks := make(map[int]time.Duration, len(tasks))
	for _, task := range tasks {
		tid, err := strconv.Atoi(task.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + task.Name() + "/timerslack_ns") // a thread id works as a pid here
		if errors.Is(err, fs.ErrNotExist) {
			continue // the thread ended meanwhile
		}
		if err != nil {
			return nil, err
		}
		ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("thread %d: timerslack_ns %q: %w", tid, b, err)
		}
		slacks[tid] = time.Duration(ns)
	}
	return slacks, nil
}
