//go:build !linux

package timerslack

import (
	"errors"
	"time"
)

// Raise does nothing off Linux (see raise_linux.go).
func Raise(time.Duration, string) (string, error) { return "", nil }

// Threads is Linux-only (see raise_linux.go).
func Threads(int) (map[int]time.Duration, error) { return nil, errors.ErrUnsupported }
