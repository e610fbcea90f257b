//go:build !linux

package storage

import (
	"errors"
	"time"
)

// releaser is Linux-only (madvise, /proc/self/maps); elsewhere the kernel
// keeps Badger's mapped pages until it needs them.
type releaser struct{}

func newReleaser(*Log) *releaser { return &releaser{} }

func (*releaser) pass(time.Time) (int64, error) { return 0, errors.ErrUnsupported }
