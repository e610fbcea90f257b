//go:build !linux

package main

import "time"

// raiseTimerSlack does nothing off Linux (see timerslack_linux.go).
func raiseTimerSlack(time.Duration) (string, error) { return "", nil }
