//go:build linux

package storage

import (
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// bootClock returns the kernel's id of this boot ("" when it cannot be
// read) and the boot clock (CLOCK_BOOTTIME: time since boot, suspend
// included, unmoved by steps of the wall clock).
func bootClock() (id string, at time.Duration) {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return "", 0
	}
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return "", 0
	}
	return strings.TrimSpace(string(b)), time.Duration(ts.Nano())
}
