//go:build linux

package storage

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// releaseMapped asks the kernel to reclaim the pages of Badger's table and
// value-log files under dir that are mapped into this process
// (madvise MADV_PAGEOUT, Linux 5.4 and later). Badger maps every table and
// value-log file; the pages a compaction or a read touched stay counted in
// the process's RSS until the kernel runs short, which on a small gateway
// looks like a node holding tens of MiB it does not use. MADV_PAGEOUT is
// only a hint: a page in use is faulted back in from the file, and a range
// that stopped being a Badger file between reading /proc/self/maps and the
// call (a table compacted away, its addresses reused) is at worst paged out,
// never changed, unlike MADV_DONTNEED, which would zero an anonymous page.
// Memtable WALs (.mem), written all the time, are left alone.
// It returns the bytes of mappings advised.
func releaseMapped(dir string) (int64, error) {
	var n int64
	err := scanMaps("/proc/self/maps", dir, func(line, prefix string) error {
		r, ok := parseMapping(line, prefix)
		if !ok {
			return nil
		}
		if _, _, e := unix.Syscall(unix.SYS_MADVISE, r.start, r.end-r.start, unix.MADV_PAGEOUT); e != 0 {
			if errors.Is(e, unix.EINVAL) {
				return fmt.Errorf("madvise(MADV_PAGEOUT): %w (the kernel predates Linux 5.4)", errors.ErrUnsupported)
			}
			return nil // ENOMEM: unmapped since we read the list
		}
		n += int64(r.end - r.start)
		return nil
	})
	return n, err
}

// scanMaps calls fn with each line of file (this process's maps or smaps)
// and dir's mappingPrefix, until fn returns an error.
func scanMaps(file, dir string, fn func(line, prefix string) error) error {
	prefix, err := mappingPrefix(dir)
	if err != nil {
		return err
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if err := fn(sc.Text(), prefix); err != nil {
			return err
		}
	}
	return sc.Err()
}

// mappingPrefix is dir as /proc/self/maps names it (absolute, symlinks
// resolved), with a trailing separator.
func mappingPrefix(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	return abs + string(filepath.Separator), nil
}

type mapping struct{ start, end uintptr }

// parseMapping reads one /proc/self/maps (or smaps header) line, "start-end
// perms offset dev inode path", and reports whether it maps a *.sst or
// *.vlog file under prefix.
func parseMapping(line, prefix string) (mapping, bool) {
	fields := strings.Fields(line)
	if len(fields) < 6 {
		return mapping{}, false
	}
	path := fields[5]
	if !strings.HasPrefix(path, prefix) || !(strings.HasSuffix(path, ".sst") || strings.HasSuffix(path, ".vlog")) {
		return mapping{}, false
	}
	lo, hi, ok := strings.Cut(fields[0], "-")
	start, err1 := strconv.ParseUint(lo, 16, 64)
	end, err2 := strconv.ParseUint(hi, 16, 64)
	if !ok || err1 != nil || err2 != nil || end <= start {
		return mapping{}, false
	}
	return mapping{start: uintptr(start), end: uintptr(end)}, true
}
