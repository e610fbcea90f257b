//go:build linux

package storage

import (
	"bytes"
	"errors"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// walWatch tells syncAll whether Badger may have rotated its memtable since
// the last sync, so that it lists the directory for rotated WALs only then,
// instead of on every fsync (an open, a stat, a readdir and a sort each:
// half the cost of a sync for a gateway whose devices publish now and
// then). It reads inotify's create events for the log directory without
// blocking: the kernel queues an event when the file is created, before
// any write can land in it, so a rotation is never missed. When inotify is
// not available (its per-user instance limit) it always says yes.
type walWatch struct {
	fd      int  // inotify descriptor, -1 when unavailable
	pending bool // a .mem file was seen, or something went wrong, since the last listing
}

func newWALWatch(dir string) *walWatch {
	w := &walWatch{fd: -1, pending: true} // the first sync lists what Open found
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return w
	}
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CREATE|unix.IN_MOVED_TO); err != nil {
		_ = unix.Close(fd)
		return w
	}
	w.fd = fd
	return w
}

// rotated reports whether a memtable WAL may have been created since the
// last call that returned true and was followed by listed. Called by one
// goroutine at a time.
func (w *walWatch) rotated() bool {
	if w.fd < 0 {
		return true
	}
	var buf [4096]byte
	for !w.pending {
		n, err := unix.Read(w.fd, buf[:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if errors.Is(err, unix.EAGAIN) {
			break
		}
		if err != nil || n < unix.SizeofInotifyEvent {
			w.pending = true // unsure: list
			break
		}
		w.pending = walCreated(buf[:n])
	}
	return w.pending
}

// walCreated reports whether the inotify events in b name a .mem file or
// say that events were lost.
func walCreated(b []byte) bool {
	for len(b) >= unix.SizeofInotifyEvent {
		ev := (*unix.InotifyEvent)(unsafe.Pointer(&b[0]))
		end := unix.SizeofInotifyEvent + int(ev.Len)
		if end > len(b) || ev.Mask&unix.IN_Q_OVERFLOW != 0 {
			return true
		}
		name := bytes.TrimRight(b[unix.SizeofInotifyEvent:end], "\x00")
		if bytes.HasSuffix(name, []byte(".mem")) {
			return true
		}
		b = b[end:]
	}
	return false
}

// listed records that the WALs present were listed and synced.
func (w *walWatch) listed() { w.pending = false }

func (w *walWatch) close() {
	if w.fd >= 0 {
		_ = unix.Close(w.fd)
		w.fd = -1
	}
}

// fdatasync flushes f's data, and its size when that changed, to the disk:
// what msync does for Badger's mapped WAL.
func fdatasync(f *os.File) error {
	for {
		err := unix.Fdatasync(int(f.Fd()))
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}
