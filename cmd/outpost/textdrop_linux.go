package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// dropExecutablePages unmaps the resident pages of the node's own binary
// (its read-only mappings: code, read-only data, the function tables the
// runtime walks) with madvise(MADV_DONTNEED), and returns the bytes of the
// mappings it advised.
//
// Why: start-up runs code that never runs again (package initialisers,
// Badger's open and replay, config parsing), and the kernel maps a binary's
// pages 64 KiB at a time (fault-around; more where the page cache holds large
// folios, as ext4 on kernel 6.18 does), so an idle node held 14 MiB of its
// 19 MiB binary mapped, a third of its RSS. The pages stay in the page
// cache: the code the node runs next faults its pages back in (minor faults,
// no disk read), and only those. Measured at idle: RssFile 14.0 -> 5.2 MiB.
// It changes which clean file pages count in the process's RSS, not the
// heap or any anonymous memory, as storage's releaser does for Badger's
// tables. It is safe for the same reason the kernel may reclaim these pages
// on its own under memory pressure: they are clean copies of the file, which
// cannot change while it runs (ETXTBSY). Cost: after each drop the code that
// runs faults its pages back, about 11 MiB during a bench run, at most 180
// minor faults of 64 KiB each (from the page cache) every 30 s. Dropping them
// every 250 ms was measured and not kept (scripts/RESULTS.md, 2026-12-04): the peak is
// while clients connect, and a few faults map the pages back.
//
// Writable mappings (the binary's initialised data) are left alone: for a
// private mapping MADV_DONTNEED would throw away what the program wrote.
func dropExecutablePages() (int64, error) {
	bin, err := selfBinary()
	if err != nil {
		return 0, err
	}
	return bin.drop()
}

// drop advises b's read-only mappings (dropExecutablePages). Finding none is
// an error: the drop would otherwise do nothing without a word, as where
// /proc/self/maps names the binary neither by its path nor by its inode
// (overlayfs on some kernels shows the underlying file).
func (b binaryFile) drop() (int64, error) {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var dropped int64
	var errs []error
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		start, end, ok := b.readOnlyMapping(sc.Text())
		if !ok {
			continue
		}
		if _, _, e := unix.Syscall(unix.SYS_MADVISE, start, end-start, unix.MADV_DONTNEED); e != 0 {
			errs = append(errs, e)
			continue
		}
		dropped += int64(end - start)
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, err)
	}
	if dropped == 0 && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("no read-only mapping of %s (inode %d) in /proc/self/maps", b.path, b.ino))
	}
	return dropped, errors.Join(errs...)
}

// binaryFile names the running binary as /proc/self/maps shows it.
type binaryFile struct {
	path     string // readlink /proc/self/exe: "/usr/bin/outpost", or "... (deleted)" once replaced
	dev, ino uint64
}

func selfBinary() (binaryFile, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &st); err != nil {
		return binaryFile{}, err
	}
	path, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return binaryFile{}, err
	}
	return binaryFile{path: path, dev: st.Dev, ino: st.Ino}, nil
}

// readOnlyMapping parses one /proc/self/maps line ("start-end perms offset
// major:minor inode path") and reports the range when it maps the binary
// without write permission. The binary is matched by path or by device and
// inode: a binary replaced while it runs shows as "path (deleted)" in both
// places, and on overlayfs (containers) the device in maps may be the
// underlying one.
func (b binaryFile) readOnlyMapping(line string) (start, end uintptr, ok bool) {
	fields := strings.Fields(line)
	if len(fields) < 6 || len(fields[1]) < 2 || fields[1][1] != '-' {
		return 0, 0, false
	}
	if strings.Join(fields[5:], " ") != b.path && !b.sameInode(fields[3], fields[4]) {
		return 0, 0, false
	}
	lo, hi, found := strings.Cut(fields[0], "-")
	s, err1 := strconv.ParseUint(lo, 16, 64)
	e, err2 := strconv.ParseUint(hi, 16, 64)
	if !found || err1 != nil || err2 != nil || e <= s {
		return 0, 0, false
	}
	return uintptr(s), uintptr(e), true
}

// sameInode reports whether maps' "major:minor" (hex) and inode fields are
// the binary's.
func (b binaryFile) sameInode(dev, ino string) bool {
	if n, err := strconv.ParseUint(ino, 10, 64); err != nil || n != b.ino {
		return false
	}
	maj, min, found := strings.Cut(dev, ":")
	ma, err1 := strconv.ParseUint(maj, 16, 32)
	mi, err2 := strconv.ParseUint(min, 16, 32)
	return found && err1 == nil && err2 == nil && unix.Mkdev(uint32(ma), uint32(mi)) == b.dev
}
