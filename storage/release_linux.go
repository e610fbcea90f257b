//go:build linux

package storage

import (
	"bufio"
	"bytes"
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
	ranges, err := badgerMappings(dir, false)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, r := range ranges {
		if _, _, e := unix.Syscall(unix.SYS_MADVISE, r.start, r.end-r.start, unix.MADV_PAGEOUT); e != 0 {
			if errors.Is(e, unix.EINVAL) {
				return n, fmt.Errorf("madvise(MADV_PAGEOUT): %w (the kernel predates Linux 5.4)", errors.ErrUnsupported)
			}
			continue // ENOMEM: unmapped since we read the list
		}
		n += int64(r.end - r.start)
	}
	return n, nil
}

// mappedRSS is the resident bytes of Badger's table and value-log files
// mapped into this process (Rss in /proc/self/smaps).
func mappedRSS(dir string) (int64, error) {
	ranges, err := badgerMappings(dir, true)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, r := range ranges {
		n += r.rss
	}
	return n, nil
}

type mapping struct {
	start, end uintptr
	rss        int64
}

// badgerMappings lists the mappings of *.sst and *.vlog files in dir, from
// /proc/self/smaps (with their Rss) or the cheaper /proc/self/maps.
func badgerMappings(dir string, withRSS bool) ([]mapping, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	prefix := abs + string(filepath.Separator)
	src := "/proc/self/maps"
	if withRSS {
		src = "/proc/self/smaps"
	}
	f, err := os.Open(src)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []mapping
	in := false // the current smaps block is one of ours
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Bytes()
		if withRSS && in && bytes.HasPrefix(line, []byte("Rss:")) {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(string(line[4:])), " kB"), 10, 64)
			out[len(out)-1].rss = kb << 10
			continue
		}
		// A mapping line: start-end perms offset dev inode path.
		fields := strings.Fields(string(line))
		if len(fields) < 5 || !strings.Contains(fields[0], "-") || strings.HasSuffix(fields[0], ":") {
			continue
		}
		in = false
		if len(fields) < 6 {
			continue
		}
		path := fields[5]
		if !strings.HasPrefix(path, prefix) || !(strings.HasSuffix(path, ".sst") || strings.HasSuffix(path, ".vlog")) {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if !ok || err1 != nil || err2 != nil || end <= start {
			continue
		}
		out = append(out, mapping{start: uintptr(start), end: uintptr(end)})
		in = true
	}
	return out, sc.Err()
}
