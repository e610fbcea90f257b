//go:build !linux

package storage

import "errors"

// releaseMapped is Linux-only (madvise MADV_PAGEOUT); elsewhere the kernel
// keeps Badger's mapped pages until it needs them.
func releaseMapped(string) (int64, error) { return 0, errors.ErrUnsupported }
