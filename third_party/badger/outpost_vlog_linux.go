//go:build linux

package badger

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// writevAt writes bufs to f at off with pwritev, again after a short write
// (outpost, OUTPOST.md change 10).
func writevAt(f *os.File, bufs [][]byte, off int64) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	for {
		for len(bufs) > 0 && len(bufs[0]) == 0 {
			bufs = bufs[1:]
		}
		if len(bufs) == 0 {
			return nil
		}
		var n int
		var werr error
		if err := rc.Control(func(fd uintptr) { n, werr = unix.Pwritev(int(fd), bufs, off) }); err != nil {
			return err
		}
		switch {
		case werr == unix.EINTR:
			continue
		case werr != nil:
			return werr
		case n == 0:
			return io.ErrShortWrite
		}
		off += int64(n)
		for n > 0 {
			k := min(n, len(bufs[0]))
			bufs[0] = bufs[0][k:]
			n -= k
			if len(bufs[0]) == 0 {
				bufs = bufs[1:]
			}
		}
	}
}
