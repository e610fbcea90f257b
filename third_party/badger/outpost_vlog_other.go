//go:build !linux

package badger

import (
	"bytes"
	"os"
)

// writevAt writes bufs to f at off (outpost, OUTPOST.md change 10): joined,
// with one WriteAt; Linux uses pwritev.
func writevAt(f *os.File, bufs [][]byte, off int64) error {
	_, err := f.WriteAt(bytes.Join(bufs, nil), off)
	return err
}
