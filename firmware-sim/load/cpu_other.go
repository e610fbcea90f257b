//go:build !unix

package load

import "time"

// CPUTimes is not measured on this platform.
func CPUTimes() (user, sys time.Duration) { return 0, 0 }
