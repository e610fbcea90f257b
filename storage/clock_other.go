//go:build !linux

package storage

import "time"

// bootClock is Linux-only (boot_id, CLOCK_BOOTTIME): elsewhere the log keeps
// no clock anchor, and a step of the wall clock counts only when a running
// process sees it.
func bootClock() (id string, at time.Duration) { return "", 0 }
