//go:build linux

package storage

import (
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// bootClock returns the kernel's id of this boot and the boot clock
// (CLOCK_BOOTTIME: time since boot, suspend included, unmoved by steps of
// the wall clock); ok is false when either cannot be read.
func bootClock() (id string, at time.Duration, ok bool) {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return "", 0, false
	}
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return "", 0, false
	}
	id = strings.TrimSpace(string(b))
	return id, time.Duration(ts.Nano()), id != ""
}
