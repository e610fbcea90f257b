//go:build !unix

package cputime

import "time"

// Process is not measured on this platform.
func Process() (user, sys time.Duration) { return 0, 0 }
